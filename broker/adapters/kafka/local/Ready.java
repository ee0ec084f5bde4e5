// Readiness probe and tiny admin tool for the local broker, run by kafka.sh as a
// single-file source program (no build step):
//
//   java -cp "$KAFKA_LIB_DIR/*" Ready.java [options] [command [args]]
//
// Commands:
//   ready                      (default) wait until the broker answers admin requests
//   list-topics                print topic names, one a line (internal topics left out)
//   create-topic NAME [PARTITIONS]   create a topic (default 1 partition), --replication-factor
//   delete-topic NAME          delete a topic
// Options:
//   --bootstrap HOST:PORT      default 127.0.0.1:9092
//   --timeout SECONDS          how long "ready" keeps trying (default 90; other commands: 15)
//   --pid PID                  "ready" gives up as soon as this process has exited (repeatable:
//                              a cluster's nodes; any one exiting)
//   --brokers N                "ready" needs N brokers and N voters caught up (default 1)
//   --in-sync                  "ready" also waits until no partition is under-replicated
//   --replication-factor R     create-topic's and the readiness probe's (default: --brokers)
//   --cluster-id ID            "ready" also requires the broker to report this cluster id
//   --command-config FILE      client properties (security.protocol, ssl.*), as Kafka's tools
//                              take them; the secure profile passes the admin's
//
// "ready" means: DescribeCluster returns N brokers (and the expected cluster id), a
// Metadata request (listTopics) succeeds, the controller accepts a validate-only
// CreateTopics with replication factor N (so N brokers are registered and unfenced), and,
// for N > 1, DescribeMetadataQuorum shows a leader with N voters caught up. An open port
// alone is not enough.
//
// Exit codes: 0 ok, 1 failed or timed out, 2 usage, 3 the --pid process exited.

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeMetadataQuorumOptions;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.errors.TopicExistsException;

public class Ready {
    static String bootstrap = "127.0.0.1:9092";
    static Double timeoutSeconds = null;
    static List<Long> pids = new ArrayList<>();
    static int brokers = 1;
    static boolean inSync = false;
    static Short replicationFactor = null;
    static String expectedClusterId = null;
    static Properties clientProps = new Properties();

    public static void main(String[] argv) {
        List<String> rest = new ArrayList<>();
        try {
            for (int i = 0; i < argv.length; i++) {
                switch (argv[i]) {
                    case "--bootstrap": bootstrap = argv[++i]; break;
                    case "--timeout": timeoutSeconds = Double.parseDouble(argv[++i]); break;
                    case "--pid": pids.add(Long.parseLong(argv[++i])); break;
                    case "--brokers": brokers = Integer.parseInt(argv[++i]); break;
                    case "--in-sync": inSync = true; break;
                    case "--replication-factor": replicationFactor = Short.parseShort(argv[++i]); break;
                    case "--cluster-id": expectedClusterId = argv[++i]; break;
                    case "--command-config": loadClientProps(argv[++i]); break;
                    case "-h": case "--help": usage(null); return;
                    default: rest.add(argv[i]);
                }
            }
        } catch (ArrayIndexOutOfBoundsException | NumberFormatException e) {
            usage("bad option value");
        }
        String command = rest.isEmpty() ? "ready" : rest.get(0);
        int code;
        try {
            switch (command) {
                case "ready":
                    code = ready(timeoutSeconds == null ? 90 : timeoutSeconds);
                    break;
                case "list-topics":
                    code = withAdmin(admin -> {
                        TreeSet<String> names = new TreeSet<>(
                            admin.listTopics().names().get(opTimeoutMs(), TimeUnit.MILLISECONDS));
                        names.forEach(System.out::println);
                        return 0;
                    });
                    break;
                case "create-topic": {
                    if (rest.size() < 2 || rest.size() > 3) usage("create-topic NAME [PARTITIONS]");
                    String name = rest.get(1);
                    int partitions = rest.size() == 3 ? Integer.parseInt(rest.get(2)) : 1;
                    code = withAdmin(admin -> {
                        try {
                            admin.createTopics(List.of(new NewTopic(name, partitions, replication())))
                                .all().get(opTimeoutMs(), TimeUnit.MILLISECONDS);
                            System.out.println("created " + name + " (" + partitions + " partitions, "
                                + replication() + " replicas)");
                        } catch (ExecutionException e) {
                            if (!(e.getCause() instanceof TopicExistsException)) throw e;
                            System.out.println("exists " + name);
                        }
                        return 0;
                    });
                    break;
                }
                case "delete-topic": {
                    if (rest.size() != 2) usage("delete-topic NAME");
                    String name = rest.get(1);
                    code = withAdmin(admin -> {
                        admin.deleteTopics(List.of(name)).all().get(opTimeoutMs(), TimeUnit.MILLISECONDS);
                        System.out.println("deleted " + name);
                        return 0;
                    });
                    break;
                }
                default:
                    usage("unknown command: " + command);
                    return;
            }
        } catch (Exception e) {
            System.err.println("Ready: " + command + " failed: " + describe(e));
            code = 1;
        }
        System.out.flush();
        // halt(): don't wait for the admin client's threads to wind down.
        Runtime.getRuntime().halt(code);
    }

    interface AdminAction { int run(Admin admin) throws Exception; }

    static void loadClientProps(String file) {
        try (InputStream in = Files.newInputStream(Path.of(file))) {
            clientProps.load(in);
        } catch (IOException e) {
            System.err.println("Ready: cannot read --command-config " + file + ": " + describe(e));
            Runtime.getRuntime().halt(2);
        }
    }

    static short replication() {
        return replicationFactor == null ? (short) brokers : replicationFactor;
    }

    /** The first --pid process that has exited, or null while all run. */
    static Long exited() {
        for (Long p : pids) {
            if (ProcessHandle.of(p).map(h -> !h.isAlive()).orElse(true)) return p;
        }
        return null;
    }

    static long opTimeoutMs() {
        return (long) ((timeoutSeconds == null ? 15 : timeoutSeconds) * 1000);
    }

    static int withAdmin(AdminAction action) throws Exception {
        try (Admin admin = Admin.create(adminProps((int) Math.min(opTimeoutMs(), Integer.MAX_VALUE)))) {
            return action.run(admin);
        }
    }

    static Properties adminProps(int apiTimeoutMs) {
        Properties p = new Properties();
        p.putAll(clientProps);
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "kafka-sh-ready");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Integer.toString(Math.max(apiTimeoutMs, 3000)));
        p.put(AdminClientConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MS_CONFIG, "1000");
        p.put(AdminClientConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS_CONFIG, "2000");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "50");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "250");
        p.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RETRY_BACKOFF_MAX_MS_CONFIG, "250");
        return p;
    }

    static int ready(double seconds) {
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        if (exited() != null) {
            System.err.println("Ready: process " + exited() + " is not running");
            return 3;
        }
        String lastError = "no attempt made";
        try (Admin admin = Admin.create(adminProps(3000))) {
            while (true) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) break;
                int attemptMs = (int) Math.max(200, Math.min(3000, left));
                try {
                    String result = probe(admin, attemptMs);
                    if (result == null) {
                        // one line for the log/terminal of whoever asked
                        return 0;
                    }
                    lastError = result;
                } catch (Exception e) {
                    lastError = describe(e);
                }
                Long gone = exited();
                if (gone != null) {
                    System.err.println("Ready: process " + gone + " exited (last error: " + lastError + ")");
                    return 3;
                }
                sleep(Math.min(200, Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()))));
            }
        }
        System.err.println("Ready: " + bootstrap + " not ready after " + seconds + " s (last error: " + lastError + ")");
        return 1;
    }

    /** null when ready, otherwise the reason it is not. */
    static String probe(Admin admin, int timeoutMs) throws Exception {
        DescribeClusterResult cluster = admin.describeCluster(new DescribeClusterOptions().timeoutMs(timeoutMs));
        Collection<Node> nodes = cluster.nodes().get(timeoutMs + 500L, TimeUnit.MILLISECONDS);
        String clusterId = cluster.clusterId().get(timeoutMs + 500L, TimeUnit.MILLISECONDS);
        if (nodes.isEmpty()) return "no broker in DescribeCluster response";
        if (nodes.size() < brokers) return nodes.size() + " of " + brokers + " brokers registered";
        if (expectedClusterId != null && !expectedClusterId.equals(clusterId)) {
            return "cluster id is " + clusterId + ", expected " + expectedClusterId
                + " (another broker on " + bootstrap + "?)";
        }
        admin.listTopics(new ListTopicsOptions().timeoutMs(timeoutMs).listInternal(true))
            .names().get(timeoutMs + 500L, TimeUnit.MILLISECONDS);
        // Goes to the controller; fails while no broker is registered and unfenced.
        admin.createTopics(List.of(new NewTopic("kafka-sh-readiness-probe", 1, replication())),
                new CreateTopicsOptions().validateOnly(true).timeoutMs(timeoutMs))
            .all().get(timeoutMs + 500L, TimeUnit.MILLISECONDS);
        if (brokers > 1) {
            String quorum = quorum(admin, timeoutMs);
            if (quorum != null) return quorum;
        }
        if (inSync) {
            String lagging = underReplicated(admin, timeoutMs);
            if (lagging != null) return lagging;
        }
        StringBuilder ids = new StringBuilder();
        for (Node n : nodes) ids.append(ids.length() == 0 ? "" : ",").append(n.id());
        System.out.println("ready: cluster " + clusterId + ", broker(s) " + ids + " at " + bootstrap);
        return null;
    }

    /** null when the metadata quorum has a leader and every voter has caught up lately. */
    static String quorum(Admin admin, int timeoutMs) throws Exception {
        QuorumInfo q = admin.describeMetadataQuorum(new DescribeMetadataQuorumOptions().timeoutMs(timeoutMs))
            .quorumInfo().get(timeoutMs + 500L, TimeUnit.MILLISECONDS);
        if (q.leaderId() < 0) return "no quorum leader";
        long now = System.currentTimeMillis();
        int caughtUp = 0;
        for (QuorumInfo.ReplicaState v : q.voters()) {
            boolean leader = v.replicaId() == q.leaderId();
            if (leader || v.lastCaughtUpTimestamp().orElse(0L) > now - 5000) caughtUp++;
        }
        if (q.voters().size() < brokers || caughtUp < brokers) {
            return caughtUp + " of " + q.voters().size() + " voters caught up (leader " + q.leaderId() + ")";
        }
        return null;
    }

    /** null when every partition has all its replicas in sync. */
    static String underReplicated(Admin admin, int timeoutMs) throws Exception {
        Collection<String> names = admin.listTopics(new ListTopicsOptions().timeoutMs(timeoutMs).listInternal(true))
            .names().get(timeoutMs + 500L, TimeUnit.MILLISECONDS);
        if (names.isEmpty()) return null;
        Map<String, TopicDescription> topics = admin.describeTopics(names,
                new DescribeTopicsOptions().timeoutMs(timeoutMs))
            .allTopicNames().get(timeoutMs + 500L, TimeUnit.MILLISECONDS);
        int lagging = 0;
        for (TopicDescription t : topics.values()) {
            for (TopicPartitionInfo p : t.partitions()) {
                if (p.isr().size() < p.replicas().size()) lagging++;
            }
        }
        return lagging == 0 ? null : lagging + " partition(s) under-replicated";
    }

    static String describe(Throwable e) {
        Throwable t = e;
        while ((t instanceof ExecutionException || t.getCause() != null && t.getMessage() == null) && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void usage(String error) {
        System.err.println((error == null ? "" : "Ready: " + error + "\n")
            + "usage: java -cp 'lib/*' Ready.java [--bootstrap HOST:PORT] [--timeout S] [--pid PID]..."
            + " [--brokers N] [--in-sync] [--replication-factor R] [--cluster-id ID] [--command-config FILE] [ready | list-topics | create-topic NAME [PARTITIONS] | delete-topic NAME]");
        Runtime.getRuntime().halt(error == null ? 0 : 2);
    }
}
