/*
 * kfk_h_acls.c: DescribeAcls, CreateAcls and DeleteAcls (shell handlers of
 * chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. chronik has no authorizer: every client may do
 * everything, as a Kafka broker without `authorizer.class.name`. Such a
 * broker still speaks the three ACL APIs and answers each with
 * SECURITY_DISABLED (54), "No Authorizer is configured on the broker": a
 * describe as a whole, a creation per ACL, a deletion per filter. So do we,
 * so that admin tools report that rather than an unsupported API. One log
 * line per kind of request (rate-limited) says who asked.
 * Not for: authentication (SASL is not spoken either).
 */
#define CK_LOG_SUBSYSTEM "acls"

#include "ck_log.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

#define KFK_ACL_NO_AUTHORIZER "No Authorizer is configured on the broker"

static void kfk_acls_log(kfk_req_t *req, ck_log_limit_t *lim, const char *what, int32_t n)
{
	ck_log_limited(lim, CK_LOG_INFO,
	               "%s refused: no authorizer (SECURITY_DISABLED) peer=%s n=%d", what,
	               req->conn ? kfk_conn_peer(req->conn) : "-", (int)n);
}

void kfk_h_describe_acls(kfk_req_t *req)
{
	static ck_log_limit_t lim;
	kfk_describe_acls_response_t resp;

	kfk_acls_log(req, &lim, "DescribeAcls", 1);
	kfk_describe_acls_response_init(&resp);
	resp.error_code = KFK_ERR_SECURITY_DISABLED;
	resp.error_message = kfk_str(KFK_ACL_NO_AUTHORIZER);
	kfk_req_respond(req, &resp);
}

void kfk_h_create_acls(kfk_req_t *req)
{
	static ck_log_limit_t lim;
	const kfk_create_acls_request_t *rq = req->body;
	kfk_create_acls_response_t resp;
	int32_t n = rq->creations.count > 0 ? rq->creations.count : 0;

	kfk_acls_log(req, &lim, "CreateAcls", n);
	kfk_create_acls_response_init(&resp);
	resp.results.items = kfk_req_alloc(req, (size_t)n, sizeof(*resp.results.items));
	if (!resp.results.items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < n; i++) {
		kfk_create_acls_response_acl_creation_result_init(&resp.results.items[i]);
		resp.results.items[i].error_code = KFK_ERR_SECURITY_DISABLED;
		resp.results.items[i].error_message = kfk_str(KFK_ACL_NO_AUTHORIZER);
	}
	resp.results.count = n;
	kfk_req_respond(req, &resp);
}

void kfk_h_delete_acls(kfk_req_t *req)
{
	static ck_log_limit_t lim;
	const kfk_delete_acls_request_t *rq = req->body;
	kfk_delete_acls_response_t resp;
	int32_t n = rq->filters.count > 0 ? rq->filters.count : 0;

	kfk_acls_log(req, &lim, "DeleteAcls", n);
	kfk_delete_acls_response_init(&resp);
	resp.filter_results.items =
	    kfk_req_alloc(req, (size_t)n, sizeof(*resp.filter_results.items));
	if (!resp.filter_results.items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < n; i++) {
		kfk_delete_acls_response_delete_acls_filter_result_t *o =
		    &resp.filter_results.items[i];

		kfk_delete_acls_response_delete_acls_filter_result_init(o);
		o->error_code = KFK_ERR_SECURITY_DISABLED;
		o->error_message = kfk_str(KFK_ACL_NO_AUTHORIZER);
	}
	resp.filter_results.count = n;
	kfk_req_respond(req, &resp);
}
