// Readiness probe and tiny admin tool for the local broker, run by kafka.sh as a
// single-file source program (no build step):
//
//   java -cp "$KAFKA_LIB_DIR/*" Ready.java [options] [command [args]]
//
// Commands:
//   ready                      (default) wait until the broker answers admin requests
//   list-topics                print topic names, one a line (internal topics left out)
//   create-topic NAME [PARTITIONS]   create a topic, replication factor 1 (default 1 partition)
//   delete-topic NAME          delete a topic
// Options:
//   --bootstrap HOST:PORT      default 127.0.0.1:9092
//   --timeout SECONDS          how long "ready" keeps trying (default 90; other commands: 15)
//   --pid PID                  "ready" gives up as soon as this process has exited
//   --cluster-id ID            "ready" also requires the broker to report this cluster id
//   --command-config FILE      client properties (security.protocol, ssl.*), as Kafka's tools
//                              take them; the secure profile passes the admin's
//
// "ready" means: DescribeCluster returns the broker (and the expected cluster id), a
// Metadata request (listTopics) succeeds, and the controller accepts a validate-only
// CreateTopics with replication factor 1 (so at least one broker is registered and
// unfenced). An open port alone is not enough.
//
// Exit codes: 0 ok, 1 failed or timed out, 2 usage, 3 the --pid process exited.

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.errors.TopicExistsException;

public class Ready {
    static String bootstrap = "127.0.0.1:9092";
    static Double timeoutSeconds = null;
    static Long pid = null;
    static String expectedClusterId = null;
    static Properties clientProps = new Properties();

    public static void main(String[] argv) {
        List<String> rest = new ArrayList<>();
        try {
            for (int i = 0; i < argv.length; i++) {
                switch (argv[i]) {
                    case "--bootstrap": bootstrap = argv[++i]; break;
                    case "--timeout": timeoutSeconds = Double.parseDouble(argv[++i]); break;
                    case "--pid": pid = Long.parseLong(argv[++i]); break;
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
                            admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1)))
                                .all().get(opTimeoutMs(), TimeUnit.MILLISECONDS);
                            System.out.println("created " + name + " (" + partitions + " partitions)");
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
        Optional<ProcessHandle> process = pid == null ? Optional.empty() : ProcessHandle.of(pid);
        if (pid != null && process.map(h -> !h.isAlive()).orElse(true)) {
            System.err.println("Ready: process " + pid + " is not running");
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
                if (process.isPresent() && !process.get().isAlive()) {
                    System.err.println("Ready: process " + pid + " exited (last error: " + lastError + ")");
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
        if (expectedClusterId != null && !expectedClusterId.equals(clusterId)) {
            return "cluster id is " + clusterId + ", expected " + expectedClusterId
                + " (another broker on " + bootstrap + "?)";
        }
        admin.listTopics(new ListTopicsOptions().timeoutMs(timeoutMs).listInternal(true))
            .names().get(timeoutMs + 500L, TimeUnit.MILLISECONDS);
        // Goes to the controller; fails while no broker is registered and unfenced.
        admin.createTopics(List.of(new NewTopic("kafka-sh-readiness-probe", 1, (short) 1)),
                new CreateTopicsOptions().validateOnly(true).timeoutMs(timeoutMs))
            .all().get(timeoutMs + 500L, TimeUnit.MILLISECONDS);
        StringBuilder ids = new StringBuilder();
        for (Node n : nodes) ids.append(ids.length() == 0 ? "" : ",").append(n.id());
        System.out.println("ready: cluster " + clusterId + ", broker(s) " + ids + " at " + bootstrap);
        return null;
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
            + "usage: java -cp 'lib/*' Ready.java [--bootstrap HOST:PORT] [--timeout S] [--pid PID]"
            + " [--cluster-id ID] [--command-config FILE] [ready | list-topics | create-topic NAME [PARTITIONS] | delete-topic NAME]");
        Runtime.getRuntime().halt(error == null ? 0 : 2);
    }
}
