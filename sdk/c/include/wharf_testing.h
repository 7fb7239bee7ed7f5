/*
 * For a C plugin's native unit tests (`wharf plugin test` builds each C file
 * of test/ with the plugin's sources, the bindings and a fake host, and
 * runs it): checks, the fake host's clock and log, and builders of the
 * records the host would send.
 */
#ifndef WHARF_TESTING_H
#define WHARF_TESTING_H

#include <stdio.h>
#include <stdlib.h>

#include "wharf.h"

/* The fake clock (milliseconds since the epoch); set it freely. */
extern uint64_t wharf_fake_now_millis;
/* The last line the plugin logged, and its level (-1: none yet). */
extern char wharf_fake_last_log[1024];
extern int wharf_fake_last_level;

/* Fails the test program with the place and the condition. */
#define WHARF_CHECK(condition)                                                     \
    do {                                                                           \
        if (!(condition)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

#define WHARF_CHECK_EQ(actual, expected)                                                       \
    do {                                                                                       \
        long long wharf_actual_ = (long long)(actual), wharf_expected_ = (long long)(expected); \
        if (wharf_actual_ != wharf_expected_) {                                                \
            fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__, #actual, \
                    wharf_actual_, wharf_expected_);                                           \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

#if defined(WHARF_WORLD_CONTROLLER) || defined(WHARF_WORLD_ADMISSION)
/* The fake cluster: objects as JSON text by kind (`ConfigMap`), namespace
 * (NULL: cluster-scoped) and name. get, create, update and delete work;
 * list, patch, create-all and update-status answer an error. */
void wharf_fake_put(const char *kind, const char *ns, const char *name, const char *json);
/* The object's JSON, or NULL. */
const char *wharf_fake_object(const char *kind, const char *ns, const char *name);
/* Forgets every object, the write count and the last event. */
void wharf_fake_reset(void);
/* Writes (create, update, delete) since the last reset. */
extern int wharf_fake_writes;
/* The last event the plugin emitted: `Normal Reason message`. */
extern char wharf_fake_last_event[256];
#endif

#ifdef WHARF_WORLD_CONTROLLER
/* Calls the plugin's `init` with a config (JSON); false (and the error on
 * stderr) when it fails. */
bool wharf_test_init(const char *config);
/* Calls the plugin's `reconcile` for namespace/name (ns NULL:
 * cluster-scoped); false (and the error on stderr) when it fails. */
bool wharf_test_reconcile(const char *ns, const char *name);
#endif

#ifdef WHARF_WORLD_ADMISSION
/* Calls the plugin's `init` with a config (JSON); false (and the error on
 * stderr) when it fails. */
bool wharf_test_init(const char *config);
/* Reviews a write of a core-group object (`Pod`): operation CREATE,
 * UPDATE or DELETE, the objects as JSON (NULL: none). Free the response
 * with exports_wharf_plugin_review_response_free. */
void wharf_test_review(const char *operation, const char *kind, const char *ns, const char *name,
                       const char *object, const char *old_object, wharf_response_t *response);
#endif

#ifdef WHARF_WORLD_SCHEDULER
/* An `upsert-node` change for a node with this allocatable CPU
 * (millicores) and memory (bytes), no labels or taints, as the host
 * sends it (its strings malloc'd: the plugin owns what `update` gets). */
exports_wharf_plugin_policy_change_t wharf_test_node(uint32_t index, const char *name,
                                                     uint64_t milli_cpu, uint64_t memory_bytes);
/* Calls the plugin's `update` with these changes (copied into a list
 * the plugin owns). */
void wharf_test_update(const exports_wharf_plugin_policy_change_t *changes, size_t count);
/* A pod with these non-zero requests, as the host sends it. */
wharf_pod_t wharf_test_pod(const char *name, uint64_t milli_cpu, uint64_t memory_bytes);
#endif

#endif
