/*
 * NodeResourcesAllocatable, from kubernetes-sigs/scheduler-plugins: scores
 * nodes by their allocatable resources — in mode `Least` (the default) the
 * nodes with the least allocatable score highest, so that small nodes
 * fill first and big ones stay free for big pods; in mode `Most` the
 * biggest nodes score highest. Each node's score is the weighted sum of
 * its allocatable resources, normalized to 0..100 across the candidates
 * (all equal: 0 — no preference).
 *
 * spec.config (JSON), as the plugin's args:
 *   {"mode": "Least" | "Most",
 *    "resources": [{"name": "cpu", "weight": 1048576}, {"name": "memory", "weight": 1}]}
 * CPU counts in millicores and memory in bytes, so the default weights
 * make a core weigh about a GiB, as the original's defaults do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wharf.h"

static bool least = true;
static double cpu_weight = 1 << 20;
static double memory_weight = 1;

/* Reads the config; false with a message in `err` when it is wrong. */
static bool configure(const char *json, size_t len, wharf_string_t *err) {
    char text[32];
    wharf_json_t value;
    least = true;
    cpu_weight = 1 << 20;
    memory_weight = 1;
    if (wharf_json_find(json, len, "mode", &value)) {
        if (!wharf_json_string(value, text, sizeof text) ||
            (strcmp(text, "Least") != 0 && strcmp(text, "Most") != 0)) {
            *err = wharf_string_dup("spec.config.mode: Unsupported value: supported values: \"Least\", \"Most\"");
            return false;
        }
        least = strcmp(text, "Least") == 0;
    }
    wharf_json_t resources;
    if (!wharf_json_find(json, len, "resources", &resources)) return true;
    int count = wharf_json_length(resources);
    if (count < 0) {
        *err = wharf_string_dup("spec.config.resources: must be a list of {name, weight}");
        return false;
    }
    cpu_weight = memory_weight = 0;
    for (int i = 0; i < count; i++) {
        char path[32];
        double weight = 1;
        snprintf(path, sizeof path, "%d.name", i);
        if (!wharf_json_find(resources.start, resources.len, path, &value) ||
            !wharf_json_string(value, text, sizeof text)) {
            *err = wharf_string_dup("spec.config.resources: each needs a name (cpu or memory)");
            return false;
        }
        snprintf(path, sizeof path, "%d.weight", i);
        if (wharf_json_find(resources.start, resources.len, path, &value) &&
            (!wharf_json_number(value, &weight) || weight < 0)) {
            *err = wharf_string_dup("spec.config.resources: a weight must be a number of at least 0");
            return false;
        }
        if (strcmp(text, "cpu") == 0) {
            cpu_weight = weight;
        } else if (strcmp(text, "memory") == 0) {
            memory_weight = weight;
        } else {
            *err = wharf_string_dup("spec.config.resources: Unsupported resource: supported: \"cpu\", \"memory\"");
            return false;
        }
    }
    return true;
}

bool exports_wharf_plugin_policy_init(wharf_string_t *config, exports_wharf_plugin_policy_registration_t *ret,
                                      wharf_string_t *err) {
    bool ok = configure((const char *)config->ptr, config->len, err);
    wharf_string_free(config);
    if (!ok) return false;
    memset(ret, 0, sizeof *ret);
    ret->name = wharf_string_dup("NodeResourcesAllocatable");
    ret->scores = true;
    wharf_info("mode %s, cpu weight %.0f, memory weight %.0f", least ? "Least" : "Most", cpu_weight,
               memory_weight);
    return true;
}

void exports_wharf_plugin_policy_update(exports_wharf_plugin_policy_list_change_t *changes) {
    wharf_nodes_apply(changes);
}

bool exports_wharf_plugin_policy_filter(wharf_pod_t *pod, WHARF_CAT(WHARF_WORLD, _list_u32_t) * candidates,
                                        exports_wharf_plugin_policy_filtered_t *ret, wharf_string_t *err) {
    /* Registered as a score plugin only: the host does not call this. */
    exports_wharf_plugin_policy_pod_free(pod);
    WHARF_CAT(WHARF_WORLD, _list_u32_free)(candidates);
    memset(ret, 0, sizeof *ret);
    return true;
}

bool exports_wharf_plugin_policy_score(wharf_pod_t *pod, WHARF_CAT(WHARF_WORLD, _list_u32_t) * candidates,
                                       WHARF_CAT(WHARF_WORLD, _list_s64_t) * ret, wharf_string_t *err) {
    size_t count = candidates->len;
    double *raw = malloc((count ? count : 1) * sizeof *raw);
    ret->ptr = malloc((count ? count : 1) * sizeof *ret->ptr);
    ret->len = count;
    if (raw == NULL || ret->ptr == NULL) {
        free(raw);
        exports_wharf_plugin_policy_pod_free(pod);
        WHARF_CAT(WHARF_WORLD, _list_u32_free)(candidates);
        *err = wharf_string_dup("out of memory");
        return false;
    }
    double lowest = 0, highest = 0;
    for (size_t i = 0; i < count; i++) {
        const wharf_node_t *node = wharf_node(candidates->ptr[i]);
        double score = 0;
        if (node != NULL) {
            score = cpu_weight * (double)node->allocatable.milli_cpu +
                    memory_weight * (double)node->allocatable.memory_bytes;
        }
        raw[i] = least ? -score : score;
        if (i == 0 || raw[i] < lowest) lowest = raw[i];
        if (i == 0 || raw[i] > highest) highest = raw[i];
    }
    for (size_t i = 0; i < count; i++) {
        ret->ptr[i] = highest == lowest ? 0 : (int64_t)((raw[i] - lowest) * 100 / (highest - lowest));
    }
    free(raw);
    exports_wharf_plugin_policy_pod_free(pod);
    WHARF_CAT(WHARF_WORLD, _list_u32_free)(candidates);
    return true;
}
