/* What `ingot bench` asks of the library beyond decoding: memory use and
 * the backend's memory bandwidth (the floor of a decode step). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "model/model.h"
#include "tools/tools.h"

uint64_t ingot_peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

void ingot_reset_peak_rss(void) {
    /* "5" resets the peak resident set size to the current one */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

double ingot_backend_bandwidth(ingot_model *m) {
    if (!m || !m->be || !m->be->iface->bandwidth) return 0;
    return m->be->iface->bandwidth(m->be);
}

void ingot_backend_memory(const ingot_model *m, size_t *free_bytes, size_t *total_bytes) {
    size_t f = 0, t = 0;
    if (m && m->be && m->be->iface->memory) m->be->iface->memory(m->be, &f, &t);
    if (free_bytes) *free_bytes = f;
    if (total_bytes) *total_bytes = t;
}

size_t ingot_backend_allocated(const ingot_model *m) {
    if (!m || !m->be || !m->be->iface->allocated) return 0;
    return m->be->iface->allocated(m->be);
}

const char *ingot_ftype_names(void) {
    static char buf[256];
    if (!buf[0]) {
        size_t n = 0;
        for (int i = 0; ig_ftype_at(i); i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? " " : "", ig_ftype_at(i)->name);
    }
    return buf;
}

bool ingot_ftype_valid(const char *name) { return ig_ftype_find(name) != NULL; }
