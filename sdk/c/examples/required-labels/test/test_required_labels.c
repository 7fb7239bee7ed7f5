/* Unit tests of the required-labels admission plugin, run natively by `wharf plugin test`. */
#include <string.h>

#include "wharf_testing.h"

static int decision(const char *pod, char *message, size_t size) {
    wharf_response_t response;
    wharf_test_review("CREATE", "Pod", "default", "web", pod, NULL, &response);
    int tag = response.decision.tag;
    message[0] = '\0';
    if (tag == EXPORTS_WHARF_PLUGIN_REVIEW_DECISION_DENY) {
        snprintf(message, size, "%.*s", (int)response.decision.val.deny.len, (const char *)response.decision.val.deny.ptr);
    }
    exports_wharf_plugin_review_response_free(&response);
    return tag;
}

int main(void) {
    char message[512];
    WHARF_CHECK(wharf_test_init("{\"requiredLabels\": [\"team\", \"app\"]}"));
    WHARF_CHECK_EQ(decision("{\"metadata\":{\"name\":\"web\",\"labels\":{\"team\":\"a\",\"app\":\"web\"}}}", message,
                            sizeof message),
                   EXPORTS_WHARF_PLUGIN_REVIEW_DECISION_ALLOW);
    WHARF_CHECK_EQ(decision("{\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\"}}}", message, sizeof message),
                   EXPORTS_WHARF_PLUGIN_REVIEW_DECISION_DENY);
    WHARF_CHECK(strcmp(message, "missing required labels: team") == 0);
    WHARF_CHECK_EQ(decision("{\"metadata\":{\"name\":\"web\",\"labels\":{\"team\":\"\"}}}", message, sizeof message),
                   EXPORTS_WHARF_PLUGIN_REVIEW_DECISION_DENY);
    WHARF_CHECK(strcmp(message, "missing required labels: team, app") == 0);
    WHARF_CHECK_EQ(decision("{\"metadata\":{\"name\":\"web\"}}", message, sizeof message),
                   EXPORTS_WHARF_PLUGIN_REVIEW_DECISION_DENY);

    /* Nothing required: everything passes; a bad config is refused. */
    WHARF_CHECK(wharf_test_init("{}"));
    WHARF_CHECK_EQ(decision("{\"metadata\":{\"name\":\"web\"}}", message, sizeof message),
                   EXPORTS_WHARF_PLUGIN_REVIEW_DECISION_ALLOW);
    WHARF_CHECK(!wharf_test_init("{\"requiredLabels\": \"team\"}"));
    WHARF_CHECK(!wharf_test_init("{\"requiredLabels\": [\"\"]}"));
    puts("test_required_labels: ok");
    return 0;
}
