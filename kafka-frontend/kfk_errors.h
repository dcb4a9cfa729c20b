/*
 * kfk_errors.h: Kafka protocol error codes and their mapping from chronik's
 * internal codes (ck_err.h).
 *
 * Owned by kafka-frontend (pure). The numbers are Kafka's own (see
 * org.apache.kafka.common.protocol.Errors); clients decide on them whether
 * to retry, refresh metadata or give up, so a handler must choose the code a
 * Kafka broker would send in the same situation.
 * Not for: per-API choices (the handlers make those, with these helpers).
 */
#ifndef KFK_ERRORS_H
#define KFK_ERRORS_H

#include <stdbool.h>
#include <stdint.h>

enum {
	KFK_ERR_UNKNOWN_SERVER_ERROR = -1,
	KFK_ERR_NONE = 0,
	KFK_ERR_OFFSET_OUT_OF_RANGE = 1,
	KFK_ERR_CORRUPT_MESSAGE = 2,
	KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KFK_ERR_INVALID_FETCH_SIZE = 4,
	KFK_ERR_LEADER_NOT_AVAILABLE = 5,
	KFK_ERR_NOT_LEADER_OR_FOLLOWER = 6,
	KFK_ERR_REQUEST_TIMED_OUT = 7,
	KFK_ERR_MESSAGE_TOO_LARGE = 10,
	KFK_ERR_OFFSET_METADATA_TOO_LARGE = 12,
	KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KFK_ERR_COORDINATOR_NOT_AVAILABLE = 15,
	KFK_ERR_NOT_COORDINATOR = 16,
	KFK_ERR_INVALID_TOPIC_EXCEPTION = 17,
	KFK_ERR_RECORD_LIST_TOO_LARGE = 18,
	KFK_ERR_NOT_ENOUGH_REPLICAS = 19,
	KFK_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
	KFK_ERR_INVALID_REQUIRED_ACKS = 21,
	KFK_ERR_ILLEGAL_GENERATION = 22,
	KFK_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	KFK_ERR_INVALID_GROUP_ID = 24,
	KFK_ERR_UNKNOWN_MEMBER_ID = 25,
	KFK_ERR_INVALID_SESSION_TIMEOUT = 26,
	KFK_ERR_REBALANCE_IN_PROGRESS = 27,
	KFK_ERR_INVALID_COMMIT_OFFSET_SIZE = 28,
	KFK_ERR_INVALID_TIMESTAMP = 32,
	KFK_ERR_UNSUPPORTED_VERSION = 35,
	KFK_ERR_TOPIC_ALREADY_EXISTS = 36,
	KFK_ERR_INVALID_PARTITIONS = 37,
	KFK_ERR_INVALID_REPLICATION_FACTOR = 38,
	KFK_ERR_INVALID_REPLICA_ASSIGNMENT = 39,
	KFK_ERR_INVALID_CONFIG = 40,
	KFK_ERR_NOT_CONTROLLER = 41,
	KFK_ERR_INVALID_REQUEST = 42,
	KFK_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
	KFK_ERR_POLICY_VIOLATION = 44,
	KFK_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	KFK_ERR_INVALID_PRODUCER_EPOCH = 47,
	KFK_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
	KFK_ERR_SECURITY_DISABLED = 54,
	KFK_ERR_KAFKA_STORAGE_ERROR = 56,
	KFK_ERR_NON_EMPTY_GROUP = 68,
	KFK_ERR_GROUP_ID_NOT_FOUND = 69,
	KFK_ERR_FENCED_LEADER_EPOCH = 74,
	KFK_ERR_UNKNOWN_LEADER_EPOCH = 75,
	KFK_ERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
	KFK_ERR_MEMBER_ID_REQUIRED = 79,
	KFK_ERR_PREFERRED_LEADER_NOT_AVAILABLE = 80,
	KFK_ERR_GROUP_MAX_SIZE_REACHED = 81,
	KFK_ERR_FENCED_INSTANCE_ID = 82,
	KFK_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE = 83,
	KFK_ERR_ELECTION_NOT_NEEDED = 84,
	KFK_ERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
	KFK_ERR_INVALID_RECORD = 87,
	KFK_ERR_UNKNOWN_TOPIC_ID = 100,
	KFK_ERR_MISMATCHED_ENDPOINT_TYPE = 114,
	KFK_ERR_UNSUPPORTED_ENDPOINT_TYPE = 115,
};

/* The Kafka name of CODE ("NOT_LEADER_OR_FOLLOWER"), for logs and error
 * messages; "UNKNOWN" for codes not listed above. */
const char *kfk_err_name(int16_t code);

/* The code for a failed walwriter request (an Append, a log lookup): ERR is
 * a WalReply error or a transport error (CK_E_CLOSED when the connection
 * dropped with the request in flight, -ENOTCONN when it could not be sent).
 * Every transient condition maps to a code clients retry. */
int16_t kfk_err_from_wal(int err);

/* The code for a failed metadata proposal (raftd transport error or apply
 * result): CK_E_NOT_LEADER / not connected -> NOT_CONTROLLER (clients
 * refresh and retry), CK_E_TIMEOUT or CK_E_CLOSED (in flight when raftd
 * went away: outcome unknown) -> REQUEST_TIMED_OUT, CK_E_EXISTS ->
 * TOPIC_ALREADY_EXISTS, CK_E_COLLISION -> INVALID_TOPIC_EXCEPTION (a name
 * that collides with another's), CK_E_NOT_FOUND -> UNKNOWN_TOPIC_OR_PARTITION,
 * CK_E_INVALID -> INVALID_REQUEST, anything else UNKNOWN_SERVER_ERROR. */
int16_t kfk_err_from_raftd(int err);

#endif
