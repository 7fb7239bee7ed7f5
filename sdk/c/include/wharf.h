/*
 * The C SDK for Wharf plugins.
 *
 * `wharf plugin build` generates the world's bindings from Wharf's `wit/`
 * (wit-bindgen's C generator) into `build/gen/`, compiles the C files of your `src/`
 * with this SDK for wasm32-wasi (Debian's clang and wasi-libc) and makes
 * the component (the WASI preview-1 reactor adapter composed in). It
 * defines WHARF_WORLD (`scheduler`, `controller`…) and WHARF_WORLD_<NAME>.
 *
 * Ownership, as wit-bindgen's C bindings have it: an exported function
 * owns its arguments (free them, or keep them); what it returns is freed
 * by the bindings after the host has read it, so return memory from
 * malloc (wharf_string_dup).
 *
 * stdout and stderr go to Wharf's log under the plugin's name (printf
 * works); the wharf_log family writes with a level.
 */
#ifndef WHARF_H
#define WHARF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WHARF_CAT2(a, b) a##b
#define WHARF_CAT(a, b) WHARF_CAT2(a, b)
#define WHARF_STR2(a) #a
#define WHARF_STR(a) WHARF_STR2(a)

#ifndef WHARF_WORLD
#error "WHARF_WORLD is not defined: build with `wharf plugin build`"
#endif
#include WHARF_STR(WHARF_WORLD.h)

/* The world's string type (`scheduler_string_t`…): UTF-8, not
 * NUL-terminated. */
typedef WHARF_CAT(WHARF_WORLD, _string_t) wharf_string_t;

/* Whether a WIT string equals a C string. */
bool wharf_string_eq(const wharf_string_t *s, const char *text);
/* A malloc'd copy of `text`, as returned strings must be. */
wharf_string_t wharf_string_dup(const char *text);
/* A malloc'd, NUL-terminated copy of a WIT string. */
char *wharf_string_cstr(const wharf_string_t *s);
/* Frees a WIT string's bytes. */
void wharf_string_free(wharf_string_t *s);

/* Log levels, as wit/host.wit's `log.level`. */
enum wharf_level {
    WHARF_TRACE = 0,
    WHARF_DEBUG = 1,
    WHARF_INFO = 2,
    WHARF_WARN = 3,
    WHARF_ERROR = 4,
};

/* Writes a line to Wharf's log under the plugin's name. */
void wharf_log(enum wharf_level level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
#define wharf_debug(...) wharf_log(WHARF_DEBUG, __VA_ARGS__)
#define wharf_info(...) wharf_log(WHARF_INFO, __VA_ARGS__)
#define wharf_warn(...) wharf_log(WHARF_WARN, __VA_ARGS__)
#define wharf_error(...) wharf_log(WHARF_ERROR, __VA_ARGS__)

/* Milliseconds since the Unix epoch: the only clock a plugin has. */
uint64_t wharf_now_millis(void);

/*
 * A small JSON reader for a plugin's `spec.config` and objects: finds a
 * value by a path of object keys and array positions separated by dots
 * (`resources.0.name`) without building a tree. A value found is a span of
 * the input text.
 */
typedef struct {
    const char *start;
    size_t len;
} wharf_json_t;

/* The value at `path` in `json` (the empty path: the whole document).
 * False when absent or when the text is not JSON. */
bool wharf_json_find(const char *json, size_t len, const char *path, wharf_json_t *out);
/* The value as a number; false when it is not one. */
bool wharf_json_number(wharf_json_t value, double *out);
/* The value as a string (escapes decoded) into `buffer`, NUL-terminated;
 * false when it is not a string or does not fit. */
bool wharf_json_string(wharf_json_t value, char *buffer, size_t size);
/* How many items an array has; -1 when it is not an array. */
int wharf_json_length(wharf_json_t value);

#if defined(WHARF_WORLD_CONTROLLER) || defined(WHARF_WORLD_ADMISSION)
/*
 * The cluster, for controllers and admission plugins: objects as JSON
 * text. A failed call returns -1 and leaves its message in
 * wharf_last_error() (`NotFound: …`, `Conflict: …`, as the API says it).
 */
typedef wharf_plugin_cluster_kind_t wharf_kind_t;

/* A kind, borrowing its strings (`""`, `"v1"`, `"ConfigMap"`). */
wharf_kind_t wharf_kind(const char *group, const char *version, const char *kind);
/* The object as JSON into `out` (malloc'd: wharf_string_free it): 1;
 * absent: 0; failed: -1. */
int wharf_get(const wharf_kind_t *kind, const char *ns, const char *name, wharf_string_t *out);
/* Creates an object (JSON): 0, or -1. */
int wharf_create(const wharf_kind_t *kind, const char *ns, const char *json, size_t len);
/* Replaces an object (JSON, its resourceVersion guarding the write): 0, or -1. */
int wharf_update(const wharf_kind_t *kind, const char *ns, const char *json, size_t len);
/* Why the last failed call failed. */
const char *wharf_last_error(void);
#endif

#ifdef WHARF_WORLD_ADMISSION
/*
 * Admission plugins: the `review` export answers a response the bindings
 * free after the host has read it. Start from wharf_allow, then deny or
 * add warnings (malloc'd copies are made).
 */
typedef exports_wharf_plugin_review_request_t wharf_request_t;
typedef exports_wharf_plugin_review_response_t wharf_response_t;

/* An empty response: allow. */
void wharf_allow(wharf_response_t *response);
/* Deny, with the message the client sees (`admission plugin "NAME"
 * denied the request: …`). */
void wharf_deny(wharf_response_t *response, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* A warning for the client (kubectl prints it). */
void wharf_add_warning(wharf_response_t *response, const char *text);
#endif

#ifdef WHARF_WORLD_SCHEDULER
/*
 * Scheduling policies. The host pushes node changes (`update`); the SDK
 * keeps them in a table by node index, so that `filter` and `score` read a
 * candidate as wharf_node(index).
 */
typedef exports_wharf_plugin_policy_node_t wharf_node_t;
typedef exports_wharf_plugin_policy_pod_t wharf_pod_t;
typedef exports_wharf_plugin_policy_resources_t wharf_resources_t;

/* Applies the changes of an `update` call and frees the list (the
 * nodes' records move into the table). */
void wharf_nodes_apply(exports_wharf_plugin_policy_list_change_t *changes);
/* The node at `index`, or NULL. */
const wharf_node_t *wharf_node(uint32_t index);
/* A node's label, or NULL (`value_len` gets its length). */
const char *wharf_node_label(const wharf_node_t *node, const char *key, size_t *value_len);
/* Forgets every node (tests). */
void wharf_nodes_clear(void);
#endif

#endif
