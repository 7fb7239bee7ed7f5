/* Unit tests of NodeResourcesAllocatable, run natively by `wharf plugin test`. */
#include <string.h>

#include "wharf_testing.h"

static bool init(const char *config) {
    wharf_string_t text = wharf_string_dup(config);
    exports_wharf_plugin_policy_registration_t registration;
    wharf_string_t err = {0};
    bool ok = exports_wharf_plugin_policy_init(&text, &registration, &err);
    if (ok) {
        WHARF_CHECK(wharf_string_eq(&registration.name, "NodeResourcesAllocatable"));
        WHARF_CHECK(registration.scores && !registration.filters && !registration.wants_pods);
        exports_wharf_plugin_policy_registration_free(&registration);
    } else {
        wharf_string_free(&err);
    }
    return ok;
}

/* Scores the three test nodes (small, big, medium) for a pod. */
static void score(int64_t out[3]) {
    wharf_pod_t pod = wharf_test_pod("web", 100, 1 << 20);
    WHARF_CAT(WHARF_WORLD, _list_u32_t) candidates;
    candidates.len = 3;
    candidates.ptr = malloc(3 * sizeof(uint32_t));
    candidates.ptr[0] = 0;
    candidates.ptr[1] = 1;
    candidates.ptr[2] = 2;
    WHARF_CAT(WHARF_WORLD, _list_s64_t) scores;
    wharf_string_t err;
    WHARF_CHECK(exports_wharf_plugin_policy_score(&pod, &candidates, &scores, &err));
    WHARF_CHECK_EQ(scores.len, 3);
    memcpy(out, scores.ptr, 3 * sizeof *out);
    WHARF_CAT(WHARF_WORLD, _list_s64_free)(&scores);
}

int main(void) {
    WHARF_CHECK(init("{}"));
    exports_wharf_plugin_policy_change_t nodes[] = {
        wharf_test_node(0, "small", 2000, 4ull << 30),
        wharf_test_node(1, "big", 16000, 64ull << 30),
        wharf_test_node(2, "medium", 4000, 8ull << 30),
    };
    wharf_test_update(nodes, 3);
    WHARF_CHECK(wharf_node(1) != NULL && wharf_string_eq(&wharf_node(1)->name, "big"));

    int64_t scores[3];
    score(scores);
    /* Least (the default): the smallest node first, the biggest last. */
    WHARF_CHECK_EQ(scores[0], 100);
    WHARF_CHECK_EQ(scores[1], 0);
    WHARF_CHECK(scores[2] > 80 && scores[2] < 100);

    WHARF_CHECK(init("{\"mode\": \"Most\"}"));
    score(scores);
    WHARF_CHECK_EQ(scores[0], 0);
    WHARF_CHECK_EQ(scores[1], 100);

    /* Memory only: weights choose what counts. */
    WHARF_CHECK(init("{\"mode\": \"Most\", \"resources\": [{\"name\": \"memory\", \"weight\": 1}]}"));
    score(scores);
    WHARF_CHECK_EQ(scores[1], 100);

    /* Equal nodes: no preference. */
    exports_wharf_plugin_policy_change_t same[] = {
        wharf_test_node(0, "a", 4000, 8ull << 30),
        wharf_test_node(1, "b", 4000, 8ull << 30),
        wharf_test_node(2, "c", 4000, 8ull << 30),
    };
    wharf_test_update(same, 3);
    score(scores);
    WHARF_CHECK(scores[0] == 0 && scores[1] == 0 && scores[2] == 0);

    /* A removed node scores as an empty one. */
    exports_wharf_plugin_policy_change_t removal = {.tag = EXPORTS_WHARF_PLUGIN_POLICY_CHANGE_REMOVE_NODE};
    removal.val.remove_node = 2;
    wharf_test_update(&removal, 1);
    WHARF_CHECK(wharf_node(2) == NULL);

    /* Bad configs are refused with what is wrong. */
    WHARF_CHECK(!init("{\"mode\": \"Sideways\"}"));
    WHARF_CHECK(!init("{\"resources\": [{\"name\": \"gpu\"}]}"));
    WHARF_CHECK(!init("{\"resources\": [{\"name\": \"cpu\", \"weight\": -1}]}"));
    WHARF_CHECK(!init("{\"resources\": 3}"));
    WHARF_CHECK(strstr(wharf_fake_last_log, "mode") != NULL);

    wharf_nodes_clear();
    puts("test_allocatable: ok");
    return 0;
}
