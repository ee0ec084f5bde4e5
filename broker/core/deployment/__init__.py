"""What a deployment needs, as data: the topics (topics) and the Kafka ACLs each principal gets
(acl), and the X.509 certificates of a secure profile (certificates). Applied by
broker.adapters.kafka.admin and broker.adapters.kafka.tls."""
