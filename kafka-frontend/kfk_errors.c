/*
 * kfk_errors.c: Kafka error names and the mapping from chronik codes
 * (kfk_errors.h).
 *
 * Owned by kafka-frontend (pure: no I/O, no logging).
 */
#include "kfk_errors.h"

#include <errno.h>

#include "ck_err.h"

const char *kfk_err_name(int16_t code)
{
	switch (code) {
	case KFK_ERR_UNKNOWN_SERVER_ERROR:
		return "UNKNOWN_SERVER_ERROR";
	case KFK_ERR_NONE:
		return "NONE";
	case KFK_ERR_OFFSET_OUT_OF_RANGE:
		return "OFFSET_OUT_OF_RANGE";
	case KFK_ERR_CORRUPT_MESSAGE:
		return "CORRUPT_MESSAGE";
	case KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION:
		return "UNKNOWN_TOPIC_OR_PARTITION";
	case KFK_ERR_INVALID_FETCH_SIZE:
		return "INVALID_FETCH_SIZE";
	case KFK_ERR_LEADER_NOT_AVAILABLE:
		return "LEADER_NOT_AVAILABLE";
	case KFK_ERR_NOT_LEADER_OR_FOLLOWER:
		return "NOT_LEADER_OR_FOLLOWER";
	case KFK_ERR_REQUEST_TIMED_OUT:
		return "REQUEST_TIMED_OUT";
	case KFK_ERR_MESSAGE_TOO_LARGE:
		return "MESSAGE_TOO_LARGE";
	case KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS:
		return "COORDINATOR_LOAD_IN_PROGRESS";
	case KFK_ERR_COORDINATOR_NOT_AVAILABLE:
		return "COORDINATOR_NOT_AVAILABLE";
	case KFK_ERR_NOT_COORDINATOR:
		return "NOT_COORDINATOR";
	case KFK_ERR_INVALID_TOPIC_EXCEPTION:
		return "INVALID_TOPIC_EXCEPTION";
	case KFK_ERR_RECORD_LIST_TOO_LARGE:
		return "RECORD_LIST_TOO_LARGE";
	case KFK_ERR_NOT_ENOUGH_REPLICAS:
		return "NOT_ENOUGH_REPLICAS";
	case KFK_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
		return "NOT_ENOUGH_REPLICAS_AFTER_APPEND";
	case KFK_ERR_INVALID_REQUIRED_ACKS:
		return "INVALID_REQUIRED_ACKS";
	case KFK_ERR_INVALID_TIMESTAMP:
		return "INVALID_TIMESTAMP";
	case KFK_ERR_UNSUPPORTED_VERSION:
		return "UNSUPPORTED_VERSION";
	case KFK_ERR_TOPIC_ALREADY_EXISTS:
		return "TOPIC_ALREADY_EXISTS";
	case KFK_ERR_INVALID_PARTITIONS:
		return "INVALID_PARTITIONS";
	case KFK_ERR_INVALID_REPLICATION_FACTOR:
		return "INVALID_REPLICATION_FACTOR";
	case KFK_ERR_INVALID_REPLICA_ASSIGNMENT:
		return "INVALID_REPLICA_ASSIGNMENT";
	case KFK_ERR_INVALID_CONFIG:
		return "INVALID_CONFIG";
	case KFK_ERR_NOT_CONTROLLER:
		return "NOT_CONTROLLER";
	case KFK_ERR_INVALID_REQUEST:
		return "INVALID_REQUEST";
	case KFK_ERR_MISMATCHED_ENDPOINT_TYPE:
		return "MISMATCHED_ENDPOINT_TYPE";
	case KFK_ERR_UNSUPPORTED_ENDPOINT_TYPE:
		return "UNSUPPORTED_ENDPOINT_TYPE";
	case KFK_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
		return "UNSUPPORTED_FOR_MESSAGE_FORMAT";
	case KFK_ERR_POLICY_VIOLATION:
		return "POLICY_VIOLATION";
	case KFK_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
		return "OUT_OF_ORDER_SEQUENCE_NUMBER";
	case KFK_ERR_INVALID_PRODUCER_EPOCH:
		return "INVALID_PRODUCER_EPOCH";
	case KFK_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
		return "TRANSACTIONAL_ID_AUTHORIZATION_FAILED";
	case KFK_ERR_GROUP_SUBSCRIBED_TO_TOPIC:
		return "GROUP_SUBSCRIBED_TO_TOPIC";
	case KFK_ERR_SECURITY_DISABLED:
		return "SECURITY_DISABLED";
	case KFK_ERR_KAFKA_STORAGE_ERROR:
		return "KAFKA_STORAGE_ERROR";
	case KFK_ERR_FENCED_LEADER_EPOCH:
		return "FENCED_LEADER_EPOCH";
	case KFK_ERR_UNSUPPORTED_COMPRESSION_TYPE:
		return "UNSUPPORTED_COMPRESSION_TYPE";
	case KFK_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
		return "PREFERRED_LEADER_NOT_AVAILABLE";
	case KFK_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE:
		return "ELIGIBLE_LEADERS_NOT_AVAILABLE";
	case KFK_ERR_ELECTION_NOT_NEEDED:
		return "ELECTION_NOT_NEEDED";
	case KFK_ERR_UNKNOWN_LEADER_EPOCH:
		return "UNKNOWN_LEADER_EPOCH";
	case KFK_ERR_OFFSET_METADATA_TOO_LARGE:
		return "OFFSET_METADATA_TOO_LARGE";
	case KFK_ERR_ILLEGAL_GENERATION:
		return "ILLEGAL_GENERATION";
	case KFK_ERR_INCONSISTENT_GROUP_PROTOCOL:
		return "INCONSISTENT_GROUP_PROTOCOL";
	case KFK_ERR_INVALID_GROUP_ID:
		return "INVALID_GROUP_ID";
	case KFK_ERR_UNKNOWN_MEMBER_ID:
		return "UNKNOWN_MEMBER_ID";
	case KFK_ERR_INVALID_SESSION_TIMEOUT:
		return "INVALID_SESSION_TIMEOUT";
	case KFK_ERR_REBALANCE_IN_PROGRESS:
		return "REBALANCE_IN_PROGRESS";
	case KFK_ERR_INVALID_COMMIT_OFFSET_SIZE:
		return "INVALID_COMMIT_OFFSET_SIZE";
	case KFK_ERR_NON_EMPTY_GROUP:
		return "NON_EMPTY_GROUP";
	case KFK_ERR_GROUP_ID_NOT_FOUND:
		return "GROUP_ID_NOT_FOUND";
	case KFK_ERR_MEMBER_ID_REQUIRED:
		return "MEMBER_ID_REQUIRED";
	case KFK_ERR_GROUP_MAX_SIZE_REACHED:
		return "GROUP_MAX_SIZE_REACHED";
	case KFK_ERR_FENCED_INSTANCE_ID:
		return "FENCED_INSTANCE_ID";
	case KFK_ERR_INVALID_RECORD:
		return "INVALID_RECORD";
	case KFK_ERR_UNKNOWN_TOPIC_ID:
		return "UNKNOWN_TOPIC_ID";
	default:
		return "UNKNOWN";
	}
}

int16_t kfk_err_from_wal(int err)
{
	switch (err) {
	case 0:
		return KFK_ERR_NONE;
	case CK_E_NOT_FOUND:
		/* The log is not (yet) in walwriter: raftd creates it while
		 * applying; clients refresh metadata and retry. */
		return KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	case CK_E_CORRUPT:
		return KFK_ERR_CORRUPT_MESSAGE;
	case CK_E_TOO_LARGE:
		return KFK_ERR_MESSAGE_TOO_LARGE;
	case CK_E_INVALID:
		return KFK_ERR_INVALID_RECORD;
	case CK_E_NOT_LEADER:
	case CK_E_SHUTDOWN:
	case -ENOTCONN:
		/* Never written: the client refreshes metadata and resends. */
		return KFK_ERR_NOT_LEADER_OR_FOLLOWER;
	case CK_E_AGAIN:
	case CK_E_TIMEOUT:
	case CK_E_CLOSED:
		/* Outcome unknown or merely delayed: retriable. */
		return KFK_ERR_REQUEST_TIMED_OUT;
	case CK_E_OFFSET_RANGE:
		return KFK_ERR_OFFSET_OUT_OF_RANGE;
	case CK_E_SEQUENCE:
		return KFK_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
	case CK_E_FENCED:
		return KFK_ERR_INVALID_PRODUCER_EPOCH;
	default:
		/* Any system error of walwriter's is its log directory failing
		 * (full, read-only, a file it cannot open or write): retriable,
		 * as Kafka answers an I/O failure of a log dir. A group whose
		 * write failed fails all its appends, also those of other
		 * partitions whose bytes were written: UNKNOWN_SERVER_ERROR, which
		 * clients do not retry, told them a written record was lost. */
		return err < 0 && err > -4096 ? KFK_ERR_KAFKA_STORAGE_ERROR
		                              : KFK_ERR_UNKNOWN_SERVER_ERROR;
	}
}

int16_t kfk_err_from_raftd(int err)
{
	switch (err) {
	case 0:
		return KFK_ERR_NONE;
	case CK_E_NOT_LEADER:
	case -ENOTCONN:
		return KFK_ERR_NOT_CONTROLLER;
	case CK_E_TIMEOUT:
	case CK_E_AGAIN:
	case CK_E_CLOSED:
	case CK_E_SHUTDOWN:
		/* In flight when raftd went away or stopped: it may have
		 * committed. */
		return KFK_ERR_REQUEST_TIMED_OUT;
	case CK_E_EXISTS:
		return KFK_ERR_TOPIC_ALREADY_EXISTS;
	case CK_E_COLLISION:
		return KFK_ERR_INVALID_TOPIC_EXCEPTION;
	case CK_E_NOT_FOUND:
		return KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	case CK_E_INVALID:
		return KFK_ERR_INVALID_REQUEST;
	case CK_E_OUT_OF_ORDER:
		/* New partitions numbered from a count another CreatePartitions
		 * changed since. */
		return KFK_ERR_INVALID_PARTITIONS;
	case CK_E_STALE:
		/* A group commit or deletion from a coordinator whose
		 * brokers changed since it looked: it may no longer
		 * coordinate the group. */
		return KFK_ERR_NOT_COORDINATOR;
	case CK_E_TOO_LARGE:
		/* Over the metadata log's entry size (1 MiB, as Kafka's
		 * metadata and offsets topics take one batch up to 1 MiB). */
		return KFK_ERR_RECORD_LIST_TOO_LARGE;
	default:
		return KFK_ERR_UNKNOWN_SERVER_ERROR;
	}
}
