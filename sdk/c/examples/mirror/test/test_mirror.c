/* Unit tests of the C mirror, run natively by `wharf plugin test` over the fake cluster. */
#include <string.h>

#include "wharf_testing.h"

int main(void) {
    WHARF_CHECK(wharf_test_init("{}"));

    /* A labelled ConfigMap gets a mirror it owns. */
    wharf_fake_put("ConfigMap", "default", "settings",
                   "{\"metadata\":{\"name\":\"settings\",\"namespace\":\"default\",\"uid\":\"u-1\","
                   "\"labels\":{\"mirror\":\"true\"}},\"data\":{\"color\":\"blue\"}}");
    WHARF_CHECK(wharf_test_reconcile("default", "settings"));
    const char *mirror = wharf_fake_object("ConfigMap", "default", "settings-mirror");
    WHARF_CHECK(mirror != NULL);
    WHARF_CHECK(strstr(mirror, "\"data\":{\"color\":\"blue\"}") != NULL);
    WHARF_CHECK(strstr(mirror, "\"uid\":\"u-1\",\"controller\":true") != NULL);
    WHARF_CHECK_EQ(wharf_fake_writes, 1);

    /* Up to date: nothing written. */
    WHARF_CHECK(wharf_test_reconcile("default", "settings"));
    WHARF_CHECK_EQ(wharf_fake_writes, 1);

    /* A change of the source is copied. */
    wharf_fake_put("ConfigMap", "default", "settings",
                   "{\"metadata\":{\"name\":\"settings\",\"namespace\":\"default\",\"uid\":\"u-1\","
                   "\"labels\":{\"mirror\":\"true\"}},\"data\":{\"color\":\"green\"}}");
    WHARF_CHECK(wharf_test_reconcile("default", "settings"));
    WHARF_CHECK(strstr(wharf_fake_object("ConfigMap", "default", "settings-mirror"), "green") != NULL);
    WHARF_CHECK_EQ(wharf_fake_writes, 2);

    /* Unlabelled or gone: nothing to do. */
    wharf_fake_put("ConfigMap", "default", "plain", "{\"metadata\":{\"name\":\"plain\"},\"data\":{}}");
    WHARF_CHECK(wharf_test_reconcile("default", "plain"));
    WHARF_CHECK(wharf_test_reconcile("default", "gone"));
    WHARF_CHECK(wharf_fake_object("ConfigMap", "default", "plain-mirror") == NULL);
    WHARF_CHECK_EQ(wharf_fake_writes, 2);

    wharf_fake_reset();
    puts("test_mirror: ok");
    return 0;
}
