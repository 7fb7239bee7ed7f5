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
