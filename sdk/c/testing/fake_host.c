/*
 * The host's imports for a C plugin's native unit tests (`wharf plugin
 * test`): the world's bindings call these raw imports; here they log to
 * stderr and keep the last line, and the clock is set by the test.
 */
#include "wharf_testing.h"

#include <stdio.h>
#include <string.h>

/* The component-type object (a wasm object file) is not linked natively. */
void WHARF_CAT(__component_type_object_force_link_, WHARF_WORLD)(void);
void WHARF_CAT(__component_type_object_force_link_, WHARF_WORLD)(void) {}

uint64_t wharf_fake_now_millis = 1700000000000ull;
char wharf_fake_last_log[1024];
int wharf_fake_last_level = -1;

void __wasm_import_wharf_plugin_log_log(int32_t level, uint8_t *ptr, size_t len) {
    size_t kept = len < sizeof wharf_fake_last_log - 1 ? len : sizeof wharf_fake_last_log - 1;
    memcpy(wharf_fake_last_log, ptr, kept);
    wharf_fake_last_log[kept] = '\0';
    wharf_fake_last_level = level;
    fprintf(stderr, "[plugin log %d] %s\n", (int)level, wharf_fake_last_log);
}

int64_t __wasm_import_wharf_plugin_clock_now_millis(void) {
    return (int64_t)wharf_fake_now_millis;
}

#ifdef WHARF_WORLD_SCHEDULER
#include <stdlib.h>

exports_wharf_plugin_policy_change_t wharf_test_node(uint32_t index, const char *name,
                                                     uint64_t milli_cpu, uint64_t memory_bytes) {
    exports_wharf_plugin_policy_change_t change;
    memset(&change, 0, sizeof change);
    change.tag = EXPORTS_WHARF_PLUGIN_POLICY_CHANGE_UPSERT_NODE;
    change.val.upsert_node.index = index;
    change.val.upsert_node.name = wharf_string_dup(name);
    change.val.upsert_node.allocatable.milli_cpu = milli_cpu;
    change.val.upsert_node.allocatable.memory_bytes = memory_bytes;
    change.val.upsert_node.allocatable.pods = 110;
    return change;
}

void wharf_test_update(const exports_wharf_plugin_policy_change_t *changes, size_t count) {
    exports_wharf_plugin_policy_list_change_t list;
    list.len = count;
    list.ptr = malloc(count * sizeof *changes);
    memcpy(list.ptr, changes, count * sizeof *changes);
    exports_wharf_plugin_policy_update(&list);
}

wharf_pod_t wharf_test_pod(const char *name, uint64_t milli_cpu, uint64_t memory_bytes) {
    wharf_pod_t pod;
    memset(&pod, 0, sizeof pod);
    pod.name = wharf_string_dup(name);
    pod.namespace_ = wharf_string_dup("default");
    pod.uid = wharf_string_dup("uid-1");
    pod.spec = wharf_string_dup("{}");
    pod.requests.milli_cpu = pod.non_zero_requests.milli_cpu = milli_cpu;
    pod.requests.memory_bytes = pod.non_zero_requests.memory_bytes = memory_bytes;
    return pod;
}
#endif

#if defined(WHARF_WORLD_CONTROLLER) || defined(WHARF_WORLD_ADMISSION)
/*
 * A fake cluster behind the `cluster`, `state` and `events` imports, at
 * the canonical ABI's level (what the generated bindings call): objects
 * are JSON text by kind, namespace and name. get, create, update and
 * delete are served; list, create-all, patch and update-status answer an
 * `other` error (not in the C fake yet).
 */
#include <stdlib.h>

#define FAKE_OBJECTS 256

typedef struct {
    bool used;
    char kind[64], ns[64], name[256];
    char *json;
} fake_object;

static fake_object objects[FAKE_OBJECTS];
int wharf_fake_writes;
char wharf_fake_last_event[256];

static void copy_text(char *to, size_t size, const uint8_t *from, size_t len) {
    size_t kept = len < size - 1 ? len : size - 1;
    memcpy(to, from, kept);
    to[kept] = '\0';
}

static fake_object *find(const char *kind, const char *ns, const char *name) {
    for (int i = 0; i < FAKE_OBJECTS; i++) {
        fake_object *o = &objects[i];
        if (o->used && strcmp(o->kind, kind) == 0 && strcmp(o->ns, ns ? ns : "") == 0 && strcmp(o->name, name) == 0) {
            return o;
        }
    }
    return NULL;
}

static uint8_t *dup_bytes(const char *text, size_t len) {
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    return copy;
}

void wharf_fake_put(const char *kind, const char *ns, const char *name, const char *json) {
    fake_object *o = find(kind, ns, name);
    for (int i = 0; o == NULL && i < FAKE_OBJECTS; i++) {
        if (!objects[i].used) o = &objects[i];
    }
    if (o == NULL) return;
    free(o->json);
    o->used = true;
    snprintf(o->kind, sizeof o->kind, "%s", kind);
    snprintf(o->ns, sizeof o->ns, "%s", ns ? ns : "");
    snprintf(o->name, sizeof o->name, "%s", name);
    o->json = (char *)dup_bytes(json, strlen(json) + 1);
}

const char *wharf_fake_object(const char *kind, const char *ns, const char *name) {
    fake_object *o = find(kind, ns, name);
    return o ? o->json : NULL;
}

void wharf_fake_reset(void) {
    for (int i = 0; i < FAKE_OBJECTS; i++) {
        free(objects[i].json);
        objects[i].json = NULL;
        objects[i].used = false;
    }
    wharf_fake_writes = 0;
    wharf_fake_last_event[0] = '\0';
}

/* Writes result<…, api-error>'s error case into `ret`. */
static void fail_with(uint8_t *ret, int tag, const char *message) {
    ret[0] = 1;
    ret[sizeof(void *)] = (uint8_t)tag;
    *(uint8_t **)(ret + 2 * sizeof(void *)) = dup_bytes(message, strlen(message));
    *(size_t *)(ret + 3 * sizeof(void *)) = strlen(message);
}

/* Writes result<string, api-error>'s ok case. */
static void ok_string(uint8_t *ret, const char *text) {
    ret[0] = 0;
    *(uint8_t **)(ret + sizeof(void *)) = dup_bytes(text, strlen(text));
    *(size_t *)(ret + 2 * sizeof(void *)) = strlen(text);
}

#define FAKE_KEY                                                      \
    char kind[64], ns[64], name[256];                                 \
    copy_text(kind, sizeof kind, k_ptr, k_len);                       \
    copy_text(ns, sizeof ns, ns_ptr, ns_some ? ns_len : 0);

void __wasm_import_wharf_plugin_cluster_get(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len, uint8_t *k_ptr,
                                            size_t k_len, int32_t ns_some, uint8_t *ns_ptr, size_t ns_len,
                                            uint8_t *n_ptr, size_t n_len, uint8_t *ret) {
    FAKE_KEY
    copy_text(name, sizeof name, n_ptr, n_len);
    fake_object *o = find(kind, ns, name);
    ret[0] = 0;
    ret[sizeof(void *)] = o != NULL;
    if (o != NULL) {
        *(uint8_t **)(ret + 2 * sizeof(void *)) = dup_bytes(o->json, strlen(o->json));
        *(size_t *)(ret + 3 * sizeof(void *)) = strlen(o->json);
    }
}

/* create and update: the object's name from its JSON. */
static void write_object(bool create, uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr, size_t ns_len,
                         uint8_t *o_ptr, size_t o_len, uint8_t *ret) {
    FAKE_KEY
    wharf_json_t value;
    if (!wharf_json_find((const char *)o_ptr, o_len, "metadata.name", &value) ||
        !wharf_json_string(value, name, sizeof name)) {
        fail_with(ret, 4, "metadata.name: Required value");
        return;
    }
    bool exists = find(kind, ns, name) != NULL;
    if (create && exists) {
        fail_with(ret, 1, "the object exists already");
        return;
    }
    if (!create && !exists) {
        fail_with(ret, 0, "the object does not exist");
        return;
    }
    char *json = malloc(o_len + 1);
    memcpy(json, o_ptr, o_len);
    json[o_len] = '\0';
    wharf_fake_put(kind, ns, name, json);
    wharf_fake_writes++;
    ok_string(ret, json);
    free(json);
}

void __wasm_import_wharf_plugin_cluster_create(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                               uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr,
                                               size_t ns_len, uint8_t *o_ptr, size_t o_len, uint8_t *ret) {
    write_object(true, k_ptr, k_len, ns_some, ns_ptr, ns_len, o_ptr, o_len, ret);
}

void __wasm_import_wharf_plugin_cluster_update(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                               uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr,
                                               size_t ns_len, uint8_t *o_ptr, size_t o_len, uint8_t *ret) {
    write_object(false, k_ptr, k_len, ns_some, ns_ptr, ns_len, o_ptr, o_len, ret);
}

void __wasm_import_wharf_plugin_cluster_update_status(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                                      uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr,
                                                      size_t ns_len, uint8_t *o_ptr, size_t o_len, uint8_t *ret) {
    fail_with(ret, 5, "update-status is not in the C fake yet");
}

void __wasm_import_wharf_plugin_cluster_delete(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                               uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr,
                                               size_t ns_len, uint8_t *n_ptr, size_t n_len, uint8_t *ret) {
    FAKE_KEY
    copy_text(name, sizeof name, n_ptr, n_len);
    fake_object *o = find(kind, ns, name);
    if (o == NULL) {
        fail_with(ret, 0, "the object does not exist");
        return;
    }
    free(o->json);
    o->json = NULL;
    o->used = false;
    wharf_fake_writes++;
    ret[0] = 0;
}

void __wasm_import_wharf_plugin_cluster_list(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                             uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr,
                                             size_t ns_len, int32_t l_some, uint8_t *l_ptr, size_t l_len,
                                             int32_t f_some, uint8_t *f_ptr, size_t f_len, uint8_t *ret) {
    fail_with(ret, 5, "list is not in the C fake yet");
}

void __wasm_import_wharf_plugin_cluster_patch(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                              uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr,
                                              size_t ns_len, uint8_t *n_ptr, size_t n_len, int32_t patch_type,
                                              uint8_t *p_ptr, size_t p_len, int32_t status, uint8_t *ret) {
    fail_with(ret, 5, "patch is not in the C fake yet");
}

void __wasm_import_wharf_plugin_cluster_create_all(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                                   uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr,
                                                   size_t ns_len, uint8_t *o_ptr, size_t o_len, uint8_t *ret) {
    /* An empty list of results. */
    *(uint8_t **)ret = NULL;
    *(size_t *)(ret + sizeof(void *)) = 0;
}

void __wasm_import_wharf_plugin_state_get(uint8_t *key, size_t key_len, uint8_t *ret) {
    ret[0] = 0;
}

void __wasm_import_wharf_plugin_state_set(uint8_t *key, size_t key_len, uint8_t *value, size_t value_len) {}

void __wasm_import_wharf_plugin_state_delete(uint8_t *key, size_t key_len) {}

void __wasm_import_wharf_plugin_events_emit(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                            uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr,
                                            size_t ns_len, uint8_t *n_ptr, size_t n_len, int32_t type,
                                            uint8_t *r_ptr, size_t r_len, uint8_t *m_ptr, size_t m_len) {
    snprintf(wharf_fake_last_event, sizeof wharf_fake_last_event, "%s %.*s %.*s", type ? "Warning" : "Normal",
             (int)r_len, (const char *)r_ptr, (int)m_len, (const char *)m_ptr);
}
#endif

#ifdef WHARF_WORLD_CONTROLLER
/* The controller world's newer imports: watches are accepted (the fake
   has no informers to wire), discovery serves no kinds, subresource writes
   are refused. */
void __wasm_import_wharf_plugin_watches_watch(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                              uint8_t *k_ptr, size_t k_len, int32_t wakes, uint8_t *p_ptr,
                                              size_t p_len, uint8_t *ret) {
    ret[0] = 0;
}

void __wasm_import_wharf_plugin_discovery_served_kinds(uint8_t *ret) {
    *(uint8_t **)ret = NULL;
    *(size_t *)(ret + sizeof(void *)) = 0;
}

void __wasm_import_wharf_plugin_subresources_update(uint8_t *g_ptr, size_t g_len, uint8_t *v_ptr, size_t v_len,
                                                    uint8_t *k_ptr, size_t k_len, int32_t ns_some, uint8_t *ns_ptr,
                                                    size_t ns_len, uint8_t *s_ptr, size_t s_len, uint8_t *o_ptr,
                                                    size_t o_len, uint8_t *ret) {
    fail_with(ret, 5, "subresources are not in the C fake yet");
}

bool wharf_test_init(const char *config) {
    wharf_string_t text = wharf_string_dup(config), err = {0};
    exports_wharf_plugin_reconciler_registration_t registration;
    bool ok = exports_wharf_plugin_reconciler_init(&text, &registration, &err);
    if (ok) {
        exports_wharf_plugin_reconciler_registration_free(&registration);
    } else {
        fprintf(stderr, "init failed: %.*s\n", (int)err.len, (const char *)err.ptr);
        wharf_string_free(&err);
    }
    return ok;
}

bool wharf_test_reconcile(const char *ns, const char *name) {
    wharf_string_t namespace_ = wharf_string_dup(ns ? ns : ""), object = wharf_string_dup(name), err = {0};
    exports_wharf_plugin_reconciler_outcome_t outcome;
    bool ok = exports_wharf_plugin_reconciler_reconcile(ns ? &namespace_ : NULL, &object, &outcome, &err);
    if (!ns) wharf_string_free(&namespace_);
    if (!ok) {
        fprintf(stderr, "reconcile %s/%s failed: %.*s\n", ns ? ns : "", name, (int)err.len, (const char *)err.ptr);
        wharf_string_free(&err);
    }
    return ok;
}
#endif

#ifdef WHARF_WORLD_ADMISSION
bool wharf_test_init(const char *config) {
    wharf_string_t text = wharf_string_dup(config), err = {0};
    exports_wharf_plugin_review_registration_t registration;
    bool ok = exports_wharf_plugin_review_init(&text, &registration, &err);
    if (ok) {
        /* wit-bindgen 0.63's registration_free leaves `operations` (the
         * component's post-return frees it). */
        WHARF_CAT(WHARF_WORLD, _list_string_free)(&registration.operations);
        exports_wharf_plugin_review_registration_free(&registration);
    } else {
        fprintf(stderr, "init failed: %.*s\n", (int)err.len, (const char *)err.ptr);
        wharf_string_free(&err);
    }
    return ok;
}

/* An optional string the request owns. */
static WHARF_CAT(WHARF_WORLD, _option_string_t) some(const char *text) {
    WHARF_CAT(WHARF_WORLD, _option_string_t) option;
    memset(&option, 0, sizeof option);
    option.is_some = text != NULL;
    if (text != NULL) option.val = wharf_string_dup(text);
    return option;
}

void wharf_test_review(const char *operation, const char *kind, const char *ns, const char *name,
                       const char *object, const char *old_object, wharf_response_t *response) {
    wharf_request_t request;
    memset(&request, 0, sizeof request);
    request.uid = wharf_string_dup("review-1");
    request.operation = wharf_string_dup(operation);
    request.kind.group = wharf_string_dup("");
    request.kind.version = wharf_string_dup("v1");
    request.kind.kind = wharf_string_dup(kind);
    request.namespace_ = some(ns);
    request.name = wharf_string_dup(name);
    request.object = some(object);
    request.old_object = some(old_object);
    request.user.username = wharf_string_dup("tester");
    exports_wharf_plugin_review_review(&request, response);
}
#endif
