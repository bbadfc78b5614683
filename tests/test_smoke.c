/* The library links and reports statuses. */
#include "ingot.h"
#include "test.h"

int main(void) {
    CHECK(strcmp(ingot_status_str(INGOT_OK), "ok") == 0, "status string");
    CHECK(ingot_status_str(INGOT_ERR_FORMAT)[0] != 0, "format string");
    return test_done();
}
