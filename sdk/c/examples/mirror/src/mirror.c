/*
 * The ConfigMap mirror in C: keeps `<name>-mirror` a copy of every
 * ConfigMap labelled mirror=true, owned by its source, with the SDK's
 * cluster calls and JSON reader (objects cross as JSON text).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wharf.h"

typedef exports_wharf_plugin_reconciler_kind_t kind_t;

/* A kind the bindings free after `init` returns. */
static kind_t owned_kind(const char *group, const char *version, const char *kind) {
    kind_t k = {wharf_string_dup(group), wharf_string_dup(version), wharf_string_dup(kind)};
    return k;
}

bool exports_wharf_plugin_reconciler_init(wharf_string_t *config, exports_wharf_plugin_reconciler_registration_t *ret,
                                          wharf_string_t *err) {
    wharf_string_free(config);
    memset(ret, 0, sizeof *ret);
    /* Mirrors are ConfigMaps owned by their source: their events wake the source. */
    ret->primary = owned_kind("", "v1", "ConfigMap");
    ret->owns.ptr = malloc(sizeof *ret->owns.ptr);
    if (ret->owns.ptr == NULL) {
        *err = wharf_string_dup("out of memory");
        return false;
    }
    ret->owns.ptr[0] = owned_kind("", "v1", "ConfigMap");
    ret->owns.len = 1;
    return true;
}

/* Whether two JSON values are the same text. */
static bool same(wharf_json_t a, wharf_json_t b) {
    return a.len == b.len && memcmp(a.start, b.start, a.len) == 0;
}

/* Does the work of a reconcile; -1 with wharf_last_error() on failure. */
static int mirror(const char *ns, const char *name) {
    wharf_kind_t configmaps = wharf_kind("", "v1", "ConfigMap");
    wharf_string_t source;
    int found = wharf_get(&configmaps, ns, name, &source);
    if (found <= 0) return found; /* gone: garbage collection removes its mirror */
    const char *text = (const char *)source.ptr;
    wharf_json_t label, data, uid;
    char value[8], uid_text[64];
    int result = 0;
    if (!wharf_json_find(text, source.len, "metadata.labels.mirror", &label) ||
        !wharf_json_string(label, value, sizeof value) || strcmp(value, "true") != 0) {
        goto done;
    }
    static const char empty[] = "{}";
    if (!wharf_json_find(text, source.len, "data", &data)) {
        data.start = empty;
        data.len = 2;
    }
    char mirror_name[300];
    snprintf(mirror_name, sizeof mirror_name, "%s-mirror", name);
    wharf_string_t existing;
    found = wharf_get(&configmaps, ns, mirror_name, &existing);
    if (found < 0) {
        result = -1;
        goto done;
    }
    size_t size = source.len + 1024 + (found ? existing.len : 0);
    char *json = malloc(size);
    if (json == NULL) {
        result = -1;
        goto release;
    }
    if (found == 0) {
        if (!wharf_json_find(text, source.len, "metadata.uid", &uid) ||
            !wharf_json_string(uid, uid_text, sizeof uid_text)) {
            uid_text[0] = '\0';
        }
        int len = snprintf(json, size,
                           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
                           "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"%s\","
                           "\"uid\":\"%s\",\"controller\":true,\"blockOwnerDeletion\":true}]},\"data\":%.*s}",
                           mirror_name, name, uid_text, (int)data.len, data.start);
        result = wharf_create(&configmaps, ns, json, (size_t)len);
    } else {
        wharf_json_t metadata, mirrored;
        const char *old = (const char *)existing.ptr;
        if (!wharf_json_find(old, existing.len, "data", &mirrored)) {
            mirrored.start = empty;
            mirrored.len = 2;
        }
        if (!same(mirrored, data) && wharf_json_find(old, existing.len, "metadata", &metadata)) {
            int len = snprintf(json, size, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":%.*s,\"data\":%.*s}",
                               (int)metadata.len, metadata.start, (int)data.len, data.start);
            result = wharf_update(&configmaps, ns, json, (size_t)len);
        }
    }
    free(json);
release:
    if (found > 0) wharf_string_free(&existing);
done:
    wharf_string_free(&source);
    return result;
}

bool exports_wharf_plugin_reconciler_reconcile(wharf_string_t *maybe_namespace, wharf_string_t *name,
                                               exports_wharf_plugin_reconciler_outcome_t *ret, wharf_string_t *err) {
    /* `maybe_namespace` is NULL for a cluster-scoped object. */
    char *ns = maybe_namespace ? wharf_string_cstr(maybe_namespace) : NULL;
    char *object = wharf_string_cstr(name);
    int result = mirror(ns, object);
    free(ns);
    free(object);
    if (maybe_namespace) wharf_string_free(maybe_namespace);
    wharf_string_free(name);
    if (result < 0) {
        *err = wharf_string_dup(wharf_last_error());
        return false;
    }
    ret->tag = EXPORTS_WHARF_PLUGIN_RECONCILER_OUTCOME_DONE;
    return true;
}
