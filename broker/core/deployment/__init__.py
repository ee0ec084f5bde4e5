"""What a deployment needs, as data: the topics (topics) and the Kafka ACLs each principal gets
(acl). Applied to a cluster by broker.adapters.kafka.admin."""
