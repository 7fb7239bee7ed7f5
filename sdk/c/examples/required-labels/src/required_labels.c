/*
 * Required labels: Pods created or updated must carry every label that
 * spec.config.requiredLabels names, with a value; a denial names the
 * missing ones. A validating admission plugin written with sdk/c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wharf.h"

#define MAX_LABELS 16

static char required[MAX_LABELS][64];
static int required_count;

static exports_wharf_plugin_review_kind_t owned_kind(const char *group, const char *version, const char *kind) {
    exports_wharf_plugin_review_kind_t k = {wharf_string_dup(group), wharf_string_dup(version), wharf_string_dup(kind)};
    return k;
}

bool exports_wharf_plugin_review_init(wharf_string_t *config, exports_wharf_plugin_review_registration_t *ret,
                                      wharf_string_t *err) {
    wharf_json_t labels, label;
    required_count = 0;
    bool ok = true;
    if (wharf_json_find((const char *)config->ptr, config->len, "requiredLabels", &labels)) {
        int count = wharf_json_length(labels);
        ok = count >= 0 && count <= MAX_LABELS;
        for (int i = 0; ok && i < count; i++) {
            char path[16];
            snprintf(path, sizeof path, "%d", i);
            ok = wharf_json_find(labels.start, labels.len, path, &label) &&
                 wharf_json_string(label, required[i], sizeof required[i]) && required[i][0] != '\0';
            required_count = i + 1;
        }
    }
    wharf_string_free(config);
    if (!ok) {
        *err = wharf_string_dup("spec.config.requiredLabels: must be a list of at most 16 label keys");
        return false;
    }
    memset(ret, 0, sizeof *ret);
    ret->kinds.ptr = malloc(sizeof *ret->kinds.ptr);
    ret->operations.ptr = malloc(2 * sizeof *ret->operations.ptr);
    if (ret->kinds.ptr == NULL || ret->operations.ptr == NULL) {
        *err = wharf_string_dup("out of memory");
        return false;
    }
    ret->kinds.ptr[0] = owned_kind("", "v1", "Pod");
    ret->kinds.len = 1;
    ret->operations.ptr[0] = wharf_string_dup("CREATE");
    ret->operations.ptr[1] = wharf_string_dup("UPDATE");
    ret->operations.len = 2;
    return true;
}

void exports_wharf_plugin_review_review(wharf_request_t *request, wharf_response_t *ret) {
    wharf_allow(ret);
    if (request->object.is_some) {
        const char *pod = (const char *)request->object.val.ptr;
        size_t len = request->object.val.len;
        char missing[1024] = "";
        for (int i = 0; i < required_count; i++) {
            char path[96];
            wharf_json_t found;
            snprintf(path, sizeof path, "metadata.labels.%s", required[i]);
            /* A value of at least one character: "" is missing too. */
            bool present = wharf_json_find(pod, len, path, &found) && found.len > 2;
            if (!present) {
                size_t used = strlen(missing);
                snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "", required[i]);
            }
        }
        if (missing[0] != '\0') wharf_deny(ret, "missing required labels: %s", missing);
    }
    exports_wharf_plugin_review_request_free(request);
}
