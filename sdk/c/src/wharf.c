/* The C SDK for Wharf plugins: see include/wharf.h. */
#include "wharf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool wharf_string_eq(const wharf_string_t *s, const char *text) {
    size_t len = strlen(text);
    return s->len == len && memcmp(s->ptr, text, len) == 0;
}

wharf_string_t wharf_string_dup(const char *text) {
    wharf_string_t s;
    WHARF_CAT(WHARF_WORLD, _string_dup)(&s, text);
    return s;
}

char *wharf_string_cstr(const wharf_string_t *s) {
    char *copy = malloc(s->len + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, s->ptr, s->len);
    copy[s->len] = '\0';
    return copy;
}

void wharf_string_free(wharf_string_t *s) {
    WHARF_CAT(WHARF_WORLD, _string_free)(s);
}

void wharf_log(enum wharf_level level, const char *format, ...) {
    char line[1024];
    va_list args;
    va_start(args, format);
    int written = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (written < 0) return;
    wharf_string_t message = {(uint8_t *)line, (size_t)written < sizeof line ? (size_t)written : sizeof line - 1};
    wharf_plugin_log_log((wharf_plugin_log_level_t)level, &message);
}

uint64_t wharf_now_millis(void) {
    return wharf_plugin_clock_now_millis();
}

/* ---- JSON ---- */

typedef struct {
    const char *at;
    const char *end;
} cursor;

static void skip_space(cursor *c) {
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r')) c->at++;
}

/* Moves past one string (at its opening quote). */
static bool skip_string(cursor *c) {
    if (c->at >= c->end || *c->at != '"') return false;
    for (c->at++; c->at < c->end; c->at++) {
        if (*c->at == '\\') {
            c->at++;
        } else if (*c->at == '"') {
            c->at++;
            return true;
        }
    }
    return false;
}

/* Moves past one value. */
static bool skip_value(cursor *c, int depth) {
    skip_space(c);
    if (c->at >= c->end || depth > 64) return false;
    char first = *c->at;
    if (first == '"') return skip_string(c);
    if (first == '{' || first == '[') {
        char close = first == '{' ? '}' : ']';
        c->at++;
        skip_space(c);
        if (c->at < c->end && *c->at == close) {
            c->at++;
            return true;
        }
        for (;;) {
            if (first == '{') {
                skip_space(c);
                if (!skip_string(c)) return false;
                skip_space(c);
                if (c->at >= c->end || *c->at != ':') return false;
                c->at++;
            }
            if (!skip_value(c, depth + 1)) return false;
            skip_space(c);
            if (c->at >= c->end) return false;
            if (*c->at == ',') {
                c->at++;
                continue;
            }
            if (*c->at == close) {
                c->at++;
                return true;
            }
            return false;
        }
    }
    /* A number, true, false or null. */
    const char *start = c->at;
    while (c->at < c->end && strchr(",}] \t\r\n", *c->at) == NULL) c->at++;
    return c->at > start;
}

/* Whether the string token at `c` (quotes included) equals key[0..len). */
static bool key_is(const char *token, size_t token_len, const char *key, size_t len) {
    return token_len == len + 2 && memcmp(token + 1, key, len) == 0;
}

bool wharf_json_find(const char *json, size_t len, const char *path, wharf_json_t *out) {
    cursor c = {json, json + len};
    while (*path != '\0') {
        const char *dot = strchr(path, '.');
        size_t step = dot ? (size_t)(dot - path) : strlen(path);
        skip_space(&c);
        if (c.at >= c.end) return false;
        bool found = false;
        if (*c.at == '{') {
            c.at++;
            skip_space(&c);
            if (c.at < c.end && *c.at == '}') return false;
            while (!found) {
                skip_space(&c);
                const char *key = c.at;
                if (!skip_string(&c)) return false;
                size_t key_len = (size_t)(c.at - key);
                skip_space(&c);
                if (c.at >= c.end || *c.at != ':') return false;
                c.at++;
                if (key_is(key, key_len, path, step)) {
                    found = true;
                    break;
                }
                if (!skip_value(&c, 0)) return false;
                skip_space(&c);
                if (c.at >= c.end || *c.at != ',') return false;
                c.at++;
            }
        } else if (*c.at == '[') {
            char *end;
            long wanted = strtol(path, &end, 10);
            if (end != path + step || wanted < 0) return false;
            c.at++;
            for (long i = 0;; i++) {
                skip_space(&c);
                if (c.at >= c.end || *c.at == ']') return false;
                if (i == wanted) {
                    found = true;
                    break;
                }
                if (!skip_value(&c, 0)) return false;
                skip_space(&c);
                if (c.at >= c.end || *c.at != ',') return false;
                c.at++;
            }
        }
        if (!found) return false;
        path += step;
        if (*path == '.') path++;
    }
    skip_space(&c);
    const char *start = c.at;
    if (!skip_value(&c, 0)) return false;
    out->start = start;
    out->len = (size_t)(c.at - start);
    return true;
}

bool wharf_json_number(wharf_json_t value, double *out) {
    char text[64];
    if (value.len == 0 || value.len >= sizeof text) return false;
    memcpy(text, value.start, value.len);
    text[value.len] = '\0';
    char *end;
    double number = strtod(text, &end);
    if (end != text + value.len) return false;
    *out = number;
    return true;
}

bool wharf_json_string(wharf_json_t value, char *buffer, size_t size) {
    if (value.len < 2 || value.start[0] != '"' || size == 0) return false;
    size_t n = 0;
    for (size_t i = 1; i + 1 < value.len; i++) {
        char ch = value.start[i];
        if (ch == '\\') {
            char escaped = value.start[++i];
            switch (escaped) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': return false; /* not needed by any config yet */
            default: ch = escaped;
            }
        }
        if (n + 1 >= size) return false;
        buffer[n++] = ch;
    }
    buffer[n] = '\0';
    return true;
}

int wharf_json_length(wharf_json_t value) {
    cursor c = {value.start, value.start + value.len};
    skip_space(&c);
    if (c.at >= c.end || *c.at != '[') return -1;
    c.at++;
    skip_space(&c);
    if (c.at < c.end && *c.at == ']') return 0;
    int count = 0;
    for (;;) {
        if (!skip_value(&c, 0)) return -1;
        count++;
        skip_space(&c);
        if (c.at < c.end && *c.at == ',') {
            c.at++;
            continue;
        }
        return count;
    }
}

/* ---- the cluster (controllers, admission plugins) ---- */

#if defined(WHARF_WORLD_CONTROLLER) || defined(WHARF_WORLD_ADMISSION)

static char last_error[512];

const char *wharf_last_error(void) {
    return last_error;
}

/* A borrowed WIT string of a C string. */
static wharf_string_t borrowed(const char *text) {
    wharf_string_t s = {(uint8_t *)text, text ? strlen(text) : 0};
    return s;
}

wharf_kind_t wharf_kind(const char *group, const char *version, const char *kind) {
    wharf_kind_t k = {borrowed(group), borrowed(version), borrowed(kind)};
    return k;
}

/* Keeps an API error's message, then frees it. */
static int failed(wharf_plugin_cluster_api_error_t *error) {
    static const char *const names[] = {"NotFound", "AlreadyExists", "Conflict", "Forbidden", "Invalid", "Other"};
    wharf_string_t *message = &error->val.not_found; /* every case is a string */
    snprintf(last_error, sizeof last_error, "%s: %.*s", error->tag < 6 ? names[error->tag] : "Other",
             (int)message->len, (const char *)message->ptr);
    wharf_string_free(message);
    return -1;
}

int wharf_get(const wharf_kind_t *kind, const char *ns, const char *name, wharf_string_t *out) {
    wharf_string_t namespace_ = borrowed(ns), object_name = borrowed(name);
    WHARF_CAT(WHARF_WORLD, _option_string_t) found;
    wharf_plugin_cluster_api_error_t error;
    if (!wharf_plugin_cluster_get((wharf_kind_t *)kind, ns ? &namespace_ : NULL, &object_name, &found, &error)) {
        return failed(&error);
    }
    if (!found.is_some) return 0;
    *out = found.val;
    return 1;
}

/* create and update: the same call but for the import. */
typedef bool (*write_import)(wharf_kind_t *, wharf_string_t *, wharf_string_t *, wharf_string_t *,
                             wharf_plugin_cluster_api_error_t *);

static int write_object(write_import call, const wharf_kind_t *kind, const char *ns, const char *json, size_t len) {
    wharf_string_t namespace_ = borrowed(ns), object = {(uint8_t *)json, len}, stored;
    wharf_plugin_cluster_api_error_t error;
    if (!call((wharf_kind_t *)kind, ns ? &namespace_ : NULL, &object, &stored, &error)) {
        return failed(&error);
    }
    wharf_string_free(&stored);
    return 0;
}

int wharf_create(const wharf_kind_t *kind, const char *ns, const char *json, size_t len) {
    return write_object(wharf_plugin_cluster_create, kind, ns, json, len);
}

int wharf_update(const wharf_kind_t *kind, const char *ns, const char *json, size_t len) {
    return write_object(wharf_plugin_cluster_update, kind, ns, json, len);
}

#endif

/* ---- admission responses ---- */

#ifdef WHARF_WORLD_ADMISSION

void wharf_allow(wharf_response_t *response) {
    memset(response, 0, sizeof *response);
    response->decision.tag = EXPORTS_WHARF_PLUGIN_REVIEW_DECISION_ALLOW;
}

void wharf_deny(wharf_response_t *response, const char *format, ...) {
    char message[2048];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    if (response->decision.tag != EXPORTS_WHARF_PLUGIN_REVIEW_DECISION_ALLOW) {
        wharf_string_free(&response->decision.val.deny); /* deny and patch are strings */
    }
    response->decision.tag = EXPORTS_WHARF_PLUGIN_REVIEW_DECISION_DENY;
    response->decision.val.deny = wharf_string_dup(message);
}

void wharf_add_warning(wharf_response_t *response, const char *text) {
    size_t count = response->warnings.len + 1;
    wharf_string_t *grown = realloc(response->warnings.ptr, count * sizeof *grown);
    if (grown == NULL) return;
    grown[count - 1] = wharf_string_dup(text);
    response->warnings.ptr = grown;
    response->warnings.len = count;
}

#endif

/* ---- the scheduler world's node table ---- */

#ifdef WHARF_WORLD_SCHEDULER

static wharf_node_t *nodes;
static bool *present;
static uint32_t capacity;

static bool reserve(uint32_t index) {
    if (index < capacity) return true;
    uint32_t grown = capacity ? capacity : 64;
    while (grown <= index) grown *= 2;
    wharf_node_t *more_nodes = realloc(nodes, grown * sizeof *nodes);
    if (more_nodes == NULL) return false;
    nodes = more_nodes;
    bool *more_present = realloc(present, grown * sizeof *present);
    if (more_present == NULL) return false;
    present = more_present;
    memset(present + capacity, 0, (grown - capacity) * sizeof *present);
    capacity = grown;
    return true;
}

static void forget(uint32_t index) {
    if (index < capacity && present[index]) {
        exports_wharf_plugin_policy_node_free(&nodes[index]);
        present[index] = false;
    }
}

void wharf_nodes_apply(exports_wharf_plugin_policy_list_change_t *changes) {
    for (size_t i = 0; i < changes->len; i++) {
        exports_wharf_plugin_policy_change_t *change = &changes->ptr[i];
        switch (change->tag) {
        case EXPORTS_WHARF_PLUGIN_POLICY_CHANGE_UPSERT_NODE: {
            uint32_t index = change->val.upsert_node.index;
            if (!reserve(index)) {
                exports_wharf_plugin_policy_change_free(change);
                break;
            }
            forget(index);
            nodes[index] = change->val.upsert_node; /* moved: not freed below */
            present[index] = true;
            break;
        }
        case EXPORTS_WHARF_PLUGIN_POLICY_CHANGE_REMOVE_NODE:
            forget(change->val.remove_node);
            break;
        case EXPORTS_WHARF_PLUGIN_POLICY_CHANGE_NODE_USAGE: {
            uint32_t index = change->val.node_usage.f0;
            if (index < capacity && present[index]) {
                exports_wharf_plugin_policy_usage_free(&nodes[index].usage);
                nodes[index].usage = change->val.node_usage.f1;
            } else {
                exports_wharf_plugin_policy_usage_free(&change->val.node_usage.f1);
            }
            break;
        }
        default:
            exports_wharf_plugin_policy_change_free(change);
        }
    }
    free(changes->ptr);
    changes->ptr = NULL;
    changes->len = 0;
}

const wharf_node_t *wharf_node(uint32_t index) {
    return index < capacity && present[index] ? &nodes[index] : NULL;
}

const char *wharf_node_label(const wharf_node_t *node, const char *key, size_t *value_len) {
    for (size_t i = 0; i < node->labels.len; i++) {
        if (wharf_string_eq(&node->labels.ptr[i].f0, key)) {
            if (value_len) *value_len = node->labels.ptr[i].f1.len;
            return (const char *)node->labels.ptr[i].f1.ptr;
        }
    }
    return NULL;
}

void wharf_nodes_clear(void) {
    for (uint32_t i = 0; i < capacity; i++) forget(i);
}

#endif
