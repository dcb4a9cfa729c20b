/*
 * kfk_apis.c: the advertised API table (kfk_apis.h).
 *
 * Owned by kafka-frontend (pure). Adding a row here is a promise: the
 * dispatcher (kfk_dispatch.c) must have a handler for every version listed.
 */
#include "kfk_apis.h"

static const kfk_api_range_t kfk_api_table[] = {
    {KFK_API_PRODUCE, 0, 9},
    {KFK_API_FETCH, 0, 12},
    {KFK_API_LIST_OFFSETS, 0, 7},
    {KFK_API_METADATA, 0, 12},
    {KFK_API_OFFSET_COMMIT, 0, 8},
    {KFK_API_OFFSET_FETCH, 0, 8},
    {KFK_API_FIND_COORDINATOR, 0, 4},
    {KFK_API_JOIN_GROUP, 0, 9},
    {KFK_API_HEARTBEAT, 0, 4},
    {KFK_API_LEAVE_GROUP, 0, 5},
    {KFK_API_SYNC_GROUP, 0, 5},
    {KFK_API_DESCRIBE_GROUPS, 0, 5},
    {KFK_API_LIST_GROUPS, 0, 4},
    {KFK_API_API_VERSIONS, 0, 3},
    {KFK_API_CREATE_TOPICS, 0, 7},
    {KFK_API_DELETE_TOPICS, 0, 6},
    {KFK_API_DELETE_RECORDS, 0, 2},
    {KFK_API_INIT_PRODUCER_ID, 0, 4},
    {KFK_API_OFFSET_FOR_LEADER_EPOCH, 0, 4},
    {KFK_API_DESCRIBE_ACLS, 0, 3},
    {KFK_API_CREATE_ACLS, 0, 3},
    {KFK_API_DELETE_ACLS, 0, 3},
    {KFK_API_DESCRIBE_CONFIGS, 0, 4},
    {KFK_API_ALTER_CONFIGS, 0, 2},
    {KFK_API_DESCRIBE_LOG_DIRS, 0, 4},
    {KFK_API_CREATE_PARTITIONS, 0, 3},
    {KFK_API_DELETE_GROUPS, 0, 2},
    {KFK_API_ELECT_LEADERS, 0, 2},
    {KFK_API_INCREMENTAL_ALTER_CONFIGS, 0, 1},
    {KFK_API_OFFSET_DELETE, 0, 0},
    {KFK_API_DESCRIBE_CLUSTER, 0, 1},
};

#define KFK_API_TABLE_LEN (sizeof(kfk_api_table) / sizeof(kfk_api_table[0]))

const kfk_api_range_t *kfk_apis_table(size_t *ret_n)
{
	*ret_n = KFK_API_TABLE_LEN;
	return kfk_api_table;
}

const kfk_api_range_t *kfk_apis_find(int16_t api_key)
{
	for (size_t i = 0; i < KFK_API_TABLE_LEN; i++) {
		if (kfk_api_table[i].api_key == api_key)
			return &kfk_api_table[i];
	}
	return NULL;
}

static bool kfk_apis_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool kfk_apis_software_ok(const char *s, size_t len)
{
	if (len == 0 || !kfk_apis_alnum(s[0]) || !kfk_apis_alnum(s[len - 1]))
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		if (!kfk_apis_alnum(s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	}
	return true;
}

bool kfk_apis_supported(int16_t api_key, int16_t version)
{
	const kfk_api_range_t *r = kfk_apis_find(api_key);

	return r && version >= r->min_version && version <= r->max_version;
}

void kfk_apis_fill_response(kfk_api_versions_response_t *resp, int16_t error_code,
                            kfk_api_versions_response_api_version_t *items)
{
	for (size_t i = 0; i < KFK_API_TABLE_LEN; i++) {
		kfk_api_versions_response_api_version_init(&items[i]);
		items[i].api_key = kfk_api_table[i].api_key;
		items[i].min_version = kfk_api_table[i].min_version;
		items[i].max_version = kfk_api_table[i].max_version;
	}
	resp->error_code = error_code;
	resp->api_keys.count = (int32_t)KFK_API_TABLE_LEN;
	resp->api_keys.items = items;
}
