/*
 * ck_notify.h: the sd_notify readiness protocol, both ends.
 *
 * Child side (and the supervisor towards systemd): ck_notify() sends a
 * datagram such as "READY=1\nSTATUS=serving" to $NOTIFY_SOCKET (a path, or
 * an abstract name starting with '@'); without the variable it does nothing.
 * Supervisor side: one datagram socket per child, bound at a path the child
 * receives as NOTIFY_SOCKET; the sender's pid comes from SCM_CREDENTIALS.
 */
#ifndef CK_NOTIFY_H
#define CK_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Returns 1 when sent, 0 when NOTIFY_SOCKET is unset, or -errno. */
int ck_notify(const char *state);
int ck_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd asks for (WATCHDOG_USEC, when WATCHDOG_PID
 * is unset or ours), or 0. */
uint64_t ck_notify_watchdog_usec(void);

/* Binds a non-blocking, close-on-exec datagram socket at PATH with
 * SO_PASSCRED (a stale file is removed). Returns 0 and *RET_FD or -errno. */
int ck_notify_listen(const char *path, int *ret_fd);
/* Receives one datagram into BUF (NUL-terminated, truncated to LEN-1) and the
 * sender's pid (0 if unknown). Returns the length, -EAGAIN, or -errno. */
int ck_notify_recv(int fd, char *buf, size_t len, pid_t *ret_pid);
/* Finds "KEY=value" as a line of MSG and copies value into RET. */
bool ck_notify_field(const char *msg, const char *key, char *ret, size_t ret_len);

#endif
