/* corral — the gateway's counters and their Prometheus text exposition. */
#include <stdlib.h>
#include "gateway/gw.h"

/* Latency bucket bounds in seconds: 50 µs to 30 s, roughly ×2.5 apart. */
static const double bounds[GW_LATENCY_BUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30};

int metrics_init(metrics_t *m) {
    size_t n;
    corral_methods(&n);
    m->ok = calloc(n, sizeof *m->ok);
    m->fault = calloc(n, sizeof *m->fault);
    return m->ok && m->fault ? 0 : -1;
}

void metrics_free(metrics_t *m) {
    free(m->ok);
    free(m->fault);
    m->ok = m->fault = NULL;
}

void metrics_call(metrics_t *m, int method, bool ok, int64_t started_us) {
    if (ok) m->ok[method]++;
    else m->fault[method]++;
    double s = (double)(gw_now_us() - started_us) / 1e6;
    int b = 0;
    while (b < GW_LATENCY_BUCKETS && s > bounds[b]) b++;
    m->hist[b]++;
    m->latency_sum += s;
    m->latency_count++;
}

void metrics_render(const gw_t *g, corral_buf_t *out) {
    const metrics_t *m = &g->metrics;
    size_t n;
    const corral_method_t *t = corral_methods(&n);
    corral_buf_puts(out, "# HELP corral_calls_total XML-RPC calls answered, by method and outcome.\n"
                         "# TYPE corral_calls_total counter\n");
    for (size_t i = 0; i < n; i++) {
        if (!m->ok[i] && !m->fault[i]) continue;
        corral_buf_printf(out, "corral_calls_total{method=\"%s\",outcome=\"ok\"} %llu\n", t[i].name,
                          (unsigned long long)m->ok[i]);
        corral_buf_printf(out, "corral_calls_total{method=\"%s\",outcome=\"fault\"} %llu\n", t[i].name,
                          (unsigned long long)m->fault[i]);
    }
    corral_buf_printf(out, "corral_calls_total{method=\"unknown\",outcome=\"fault\"} %llu\n",
                      (unsigned long long)m->unknown_method);
    corral_buf_puts(out, "# HELP corral_call_duration_seconds Time from a call's decoding to its answer.\n"
                         "# TYPE corral_call_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < GW_LATENCY_BUCKETS; b++) {
        cum += m->hist[b];
        corral_buf_printf(out, "corral_call_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[b],
                          (unsigned long long)cum);
    }
    cum += m->hist[GW_LATENCY_BUCKETS];
    corral_buf_printf(out, "corral_call_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    corral_buf_printf(out, "corral_call_duration_seconds_sum %.6f\n", m->latency_sum);
    corral_buf_printf(out, "corral_call_duration_seconds_count %llu\n", (unsigned long long)m->latency_count);
    static const char *http_names[6] = {"400", "401", "404_405", "408", "413_431", "other"};
    corral_buf_puts(out, "# HELP corral_http_errors_total HTTP error responses, by status.\n"
                         "# TYPE corral_http_errors_total counter\n");
    for (int i = 0; i < 6; i++)
        corral_buf_printf(out, "corral_http_errors_total{status=\"%s\"} %llu\n", http_names[i],
                          (unsigned long long)m->http_errors[i]);
    corral_buf_printf(out,
                      "# HELP corral_connections Open client connections.\n# TYPE corral_connections gauge\n"
                      "corral_connections %d\n"
                      "# HELP corral_connections_accepted_total Client connections accepted.\n"
                      "# TYPE corral_connections_accepted_total counter\ncorral_connections_accepted_total %llu\n"
                      "# HELP corral_calls_in_flight Calls sent to actors and not yet answered.\n"
                      "# TYPE corral_calls_in_flight gauge\ncorral_calls_in_flight %d\n",
                      g->nconns, (unsigned long long)m->accepted, calls_live(g->calls));
}
