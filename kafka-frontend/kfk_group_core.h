/*
 * kfk_group_core.h: the consumer group coordinator's membership state
 * machine (Kafka's classic group protocol: JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup), pure.
 *
 * Owned by kafka-frontend. No I/O, no logging, no clock: the caller passes
 * the monotonic time in milliseconds and calls kfk_gcore_tick() now and
 * then (every 100 ms is fine), which expires sessions and ends join phases.
 * Member ids are made by the caller (kfk_gjoin_in_t.new_member_id) so
 * that the core needs no randomness.
 *
 * A group's life, as Kafka's GroupCoordinator:
 *   Empty --join--> PreparingRebalance: the join phase; each member's
 *     JoinGroup is held until every known member has sent one (or the
 *     phase's deadline, the largest rebalance timeout, has passed: those
 *     that did not are removed);
 *   PreparingRebalance --all joined--> CompletingRebalance: a new
 *     generation, its protocol (the one every member supports with the
 *     most first-choice votes) and leader; every held join is answered,
 *     the leader's with the member list;
 *   CompletingRebalance --leader's SyncGroup--> Stable: every held
 *     SyncGroup is answered with its member's assignment;
 *   any state with members --join of a new member, a leave, an expired
 *     session, changed protocols of a member--> PreparingRebalance;
 *   no members left --> Empty (the generation still moves).
 * Held requests are "waiters" (opaque pointers of the caller's). Every
 * waiter is answered exactly once, through the callbacks of
 * kfk_gcore_new(), possibly before the call that passed it returns; a
 * member that leaves, expires or is replaced has its waiters answered with
 * an error at once; kfk_gcore_drop() and kfk_gcore_free() answer every
 * waiter of the groups they drop.
 *
 * Static members (KIP-345, a group instance id): a JoinGroup with no
 * member id and a known instance id replaces the member of that instance,
 * which gets a new member id. From then on every request naming the
 * instance id under another member id (JoinGroup with a member id,
 * SyncGroup, Heartbeat, a LeaveGroup member, OffsetCommit) is answered
 * FENCED_INSTANCE_ID, which clients take as fatal, before any other check
 * of its member, as Kafka's coordinator does: UNKNOWN_MEMBER_ID would make
 * the replaced client join again and replace the newer one in turn.
 *
 * Committed offsets are not kept here (they are metadata, through Raft):
 * kfk_gcore_commit_check() only says whether a commit is allowed.
 * Not for: coordinator placement (kfk_coord_core.h), wire encoding.
 */
#ifndef KFK_GROUP_CORE_H
#define KFK_GROUP_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_hash.h"
#include "kfk_types.h"

typedef enum {
	KFK_GROUP_EMPTY = 0,
	KFK_GROUP_PREPARING,
	KFK_GROUP_COMPLETING,
	KFK_GROUP_STABLE,
	KFK_GROUP_DEAD,
} kfk_group_state_t;

/* Kafka's name of a state ("Empty", "PreparingRebalance",
 * "CompletingRebalance", "Stable", "Dead"). */
const char *kfk_group_state_name(kfk_group_state_t st);

/* Settings (Kafka's broker settings of the same meaning). */
typedef struct {
	int32_t min_session_ms;   /* group.min.session.timeout.ms (6000) */
	int32_t max_session_ms;   /* group.max.session.timeout.ms (1800000) */
	int32_t initial_delay_ms; /* group.initial.rebalance.delay.ms */
	int32_t max_members;      /* group.max.size */
	/* How long a group stays Empty (no members, none pending) before it
	 * is forgotten: Kafka keeps it until its next offsets retention walk
	 * (offsets.retention.check.interval.ms), so that tools list it as
	 * Empty meanwhile, not Dead. 0: at the next tick. */
	int64_t empty_keep_ms;
} kfk_gcore_settings_t;

typedef struct {
	char *name;
	uint8_t *meta;
	size_t meta_len;
} kfk_gproto_t;

typedef struct kfk_gmember {
	char *id;
	char *instance_id; /* NULL: a dynamic member */
	char *client_id;
	char *client_host;
	int32_t session_ms;
	int32_t rebalance_ms;
	kfk_gproto_t *protos; /* in the member's order of preference */
	int nprotos;
	uint8_t *assignment; /* from the leader's last SyncGroup */
	size_t assignment_len;
	uint64_t expires_ms; /* session deadline */
	void *join_waiter;   /* a held JoinGroup */
	void *sync_waiter;   /* a held SyncGroup */
	bool is_new;         /* joined in the current join phase for the first time */
} kfk_gmember_t;

/* A member id handed out with MEMBER_ID_REQUIRED, not joined with yet. */
typedef struct {
	char *id;
	uint64_t expires_ms;
} kfk_gpending_t;

typedef struct {
	char *id;
	kfk_group_state_t state;
	int32_t generation;
	char *protocol_type; /* "" until a member joined */
	char *protocol;      /* chosen for the generation; NULL outside one */
	char *leader;        /* member id; NULL when none */
	kfk_gmember_t **members;
	int nmembers;
	int members_cap;
	kfk_gpending_t *pending;
	int npending;
	uint64_t phase_start_ms;    /* the join phase's start */
	uint64_t phase_deadline_ms; /* the join phase's end */
	uint64_t empty_since_ms;    /* 1 + when a tick first found it Empty; 0: not Empty */
} kfk_group_t;

/* ---- answers ---- */

typedef struct {
	const char *member_id;
	const char *instance_id; /* NULL when none */
	const uint8_t *meta;
	size_t meta_len;
} kfk_gjoin_member_t;

/* A JoinGroup answer; pointers valid during the callback only. */
typedef struct {
	int16_t err;
	int32_t generation;                /* -1 on error */
	const char *protocol_type;         /* NULL on error */
	const char *protocol;              /* NULL on error */
	const char *leader;                /* "" on error */
	const char *member_id;             /* the member's id ("" when none) */
	const kfk_gjoin_member_t *members; /* the leader's answer only */
	int nmembers;
} kfk_gjoin_out_t;

/* A SyncGroup answer; pointers valid during the callback only. */
typedef struct {
	int16_t err;
	const char *protocol_type; /* NULL on error */
	const char *protocol;      /* NULL on error */
	const uint8_t *assignment; /* NULL/0 on error */
	size_t assignment_len;
} kfk_gsync_out_t;

typedef void (*kfk_gjoin_fn)(void *arg, void *waiter, const kfk_gjoin_out_t *out);
typedef void (*kfk_gsync_fn)(void *arg, void *waiter, const kfk_gsync_out_t *out);
/* Group G completed a rebalance (Stable: every member has its assignment),
 * a static member of a Stable group came back under a new id, or G became
 * Empty (no members): what a successor coordinator must load. */
typedef void (*kfk_gstate_fn)(void *arg, const kfk_group_t *g);

typedef struct {
	kfk_gcore_settings_t set;
	ck_hash_t groups; /* kfk_group_t * by name */
	kfk_gjoin_fn join_done;
	kfk_gsync_fn sync_done;
	kfk_gstate_fn state_done; /* NULL: none (kfk_gcore_on_state) */
	void *arg;
} kfk_gcore_t;

void kfk_gcore_init(kfk_gcore_t *c, const kfk_gcore_settings_t *set, kfk_gjoin_fn join_done,
                    kfk_gsync_fn sync_done, void *arg);
/* Answers every waiter with ERR and frees every group. */
void kfk_gcore_free(kfk_gcore_t *c, int16_t err);
/* M's protocol NAME, or NULL. */
const kfk_gproto_t *kfk_gcore_member_proto(const kfk_gmember_t *m, const char *name);
/* Calls FN (with the ARG of kfk_gcore_init) at every Stable and Empty. */
void kfk_gcore_on_state(kfk_gcore_t *c, kfk_gstate_fn fn);

/* The group ID, or NULL. */
kfk_group_t *kfk_gcore_find(const kfk_gcore_t *c, kfk_str_t id);
/* Drops group G (answering its waiters with ERR): the coordinator moved,
 * or the group was deleted. */
void kfk_gcore_drop(kfk_gcore_t *c, kfk_group_t *g, int16_t err);

/* ---- requests ---- */

typedef struct {
	kfk_str_t name;
	kfk_bytes_t meta;
} kfk_gproto_in_t;

typedef struct {
	kfk_str_t group;
	kfk_str_t member_id;   /* "" for a new member */
	kfk_str_t instance_id; /* null (len -1) or "": dynamic */
	kfk_str_t protocol_type;
	const kfk_gproto_in_t *protos;
	int nprotos;
	int32_t session_ms;
	int32_t rebalance_ms;      /* < 0: the session timeout (JoinGroup v0) */
	bool require_known_id;     /* v4+: a new member first gets MEMBER_ID_REQUIRED */
	const char *new_member_id; /* the id a new member gets (caller-made, unique) */
	const char *client_id;
	const char *client_host;
} kfk_gjoin_in_t;

/* JoinGroup: answers WAITER now or later. Returns 0, or -ENOMEM (WAITER is
 * then answered with an error, as always exactly once). */
int kfk_gcore_join(kfk_gcore_t *c, const kfk_gjoin_in_t *in, void *waiter, uint64_t now_ms);

typedef struct {
	kfk_str_t member_id;
	kfk_bytes_t assignment;
} kfk_gassign_in_t;

typedef struct {
	kfk_str_t group;
	kfk_str_t member_id;
	kfk_str_t instance_id;
	int32_t generation;
	kfk_str_t protocol_type;             /* null: not checked (before v5) */
	kfk_str_t protocol;                  /* null: not checked */
	const kfk_gassign_in_t *assignments; /* the leader's */
	int nassignments;
} kfk_gsync_in_t;

/* SyncGroup: answers WAITER now or later. Returns 0 or -ENOMEM (answered). */
int kfk_gcore_sync(kfk_gcore_t *c, const kfk_gsync_in_t *in, void *waiter, uint64_t now_ms);

/* Heartbeat: the error code to answer. */
int16_t kfk_gcore_heartbeat(kfk_gcore_t *c, kfk_str_t group, kfk_str_t member_id,
                            kfk_str_t instance_id, int32_t generation, uint64_t now_ms);

/* LeaveGroup of one member (by id, or by instance id when the id is ""):
 * the error code for that member. */
int16_t kfk_gcore_leave(kfk_gcore_t *c, kfk_str_t group, kfk_str_t member_id, kfk_str_t instance_id,
                        uint64_t now_ms);

/* Whether an OffsetCommit of GROUP by MEMBER_ID at GENERATION may be
 * stored: the error code (NONE when it may). GENERATION < 0 with an empty
 * member id is a commit from outside the group protocol, allowed while the
 * group has no members. A commit refreshes the member's session. */
int16_t kfk_gcore_commit_check(kfk_gcore_t *c, kfk_str_t group, kfk_str_t member_id,
                               kfk_str_t instance_id, int32_t generation, uint64_t now_ms);

/* What an OffsetDelete of TOPIC's offsets may do with group G (NULL: no
 * live state, only offsets): NONE when they may go, GROUP_SUBSCRIBED_TO_TOPIC
 * when a member of a "consumer" group subscribes to TOPIC, NON_EMPTY_GROUP
 * when a group of another protocol type has members (Kafka's rules).
 * Subscriptions are read from the members' consumer-protocol metadata, of
 * every protocol they offered; metadata that does not parse counts as
 * subscribing, as in Kafka. */
int16_t kfk_gcore_offset_delete_check(const kfk_group_t *g, kfk_str_t topic);

/* Whether the consumer-protocol subscription META (LEN bytes: version,
 * topics, ...) names TOPIC: 1 yes, 0 no, -1 it does not parse. */
int kfk_gsub_names(const uint8_t *meta, size_t len, kfk_str_t topic);

/* Expires sessions, pending member ids and join phases. */
void kfk_gcore_tick(kfk_gcore_t *c, uint64_t now_ms);

/* ---- a group taken over ---- */

typedef struct {
	const char *id;
	const char *instance_id; /* NULL or "": a dynamic member */
	const char *client_id;
	const char *client_host;
	int32_t session_ms;
	int32_t rebalance_ms;
	const kfk_gproto_in_t *protos; /* as it joined; the group's among them */
	int nprotos;
	const uint8_t *assignment;
	size_t assignment_len;
} kfk_gload_member_t;

typedef struct {
	kfk_str_t group;
	int32_t generation;
	const char *protocol_type;
	const char *protocol;
	const char *leader;
	const kfk_gload_member_t *members;
	int nmembers;
} kfk_gload_t;

/* Makes group IN->group Stable at IN's generation with IN's members and
 * assignments (a stored rebalance, from the coordinator before this one),
 * each member's session starting at NOW_MS: members that go on
 * heartbeating keep their generation, the others expire. Returns 0,
 * -EEXIST (a group of the name is here already: it is the newer),
 * -EINVAL (no members, no protocol (NULL), a leader or member id that is not
 * one, a member without the group's protocol, a session not > 0, an
 * instance id twice) or -ENOMEM. */
int kfk_gcore_load(kfk_gcore_t *c, const kfk_gload_t *in, uint64_t now_ms);

#endif
