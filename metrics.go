package c1

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// metricsNamespace prefixes every metric name.
const metricsNamespace = "c1"

// engineMetrics are the counters and histograms of one mounted engine, in a
// registry of its own: one plugin process may serve several mounts, and each
// mount's metrics path shows its own. They count what happened on this Vault
// node since the plugin process started.
type engineMetrics struct {
	registry *prometheus.Registry

	rotations          *prometheus.CounterVec
	rotationFailures   *prometheus.CounterVec
	unknownCreates     *prometheus.CounterVec
	revocations        *prometheus.CounterVec
	revocationFailures *prometheus.CounterVec
	revocationsHeld    *prometheus.CounterVec
	lostCredentials    *prometheus.CounterVec
	outOfBand          *prometheus.CounterVec
	rootRotations      *prometheus.CounterVec
	upstreamRequests   *prometheus.CounterVec
	upstreamLatency    *prometheus.HistogramVec
	aitronosCache      *prometheus.CounterVec
}

func newEngineMetrics() *engineMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help}, labels)
	}
	m := &engineMetrics{
		registry: prometheus.NewRegistry(),
		rotations: counter("credential_rotations_total",
			"Credentials created and made current (registrations included).", "connector"),
		rotationFailures: counter("credential_rotation_failures_total",
			"Credential creates that failed, by the outcome of the upstream request (not_applied, unknown).",
			"connector", "outcome"),
		unknownCreates: counter("credential_creates_unknown_outcome_total",
			"Credential creates whose outcome is unknown: the upstream may hold a credential the engine never saw.",
			"connector"),
		revocations: counter("credential_revocations_total",
			"Credentials revoked upstream (or found already revoked).", "connector"),
		revocationFailures: counter("credential_revocation_failures_total",
			"Revocations that failed; the credential stays valid upstream and is retried.", "connector"),
		revocationsHeld: counter("credential_revocations_held_back_total",
			"Replaced credentials whose revocation waits past their grace: for leases still out, or because the credential is still in use.",
			"connector", "reason"),
		lostCredentials: counter("credentials_lost_total",
			"Credentials created upstream that the engine holds no record of and could not revoke.", "connector"),
		outOfBand: counter("credential_out_of_band_revocations_total",
			"Current credentials that read as revoked upstream, out of band: replaced, or not trusted (verification suspended).",
			"connector", "action"),
		rootRotations: counter("root_rotation_events_total",
			"Events of the engine's own credential: rotated, failed_<outcome>, expiring (warned: near its expiry, not rotated).", "event"),
		upstreamRequests: counter("upstream_requests_total",
			"Upstream request attempts, by endpoint and HTTP status (0: no answer).", "endpoint", "status"),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "upstream_request_duration_seconds",
			Help:    "Time from sending an upstream request attempt to its answer's headers.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		aitronosCache: counter("aitronos_cache_lookups_total",
			"Aitronos token reads, by how they were answered: hit (cached), coalesced (shared a concurrent fetch), miss (fetched).",
			"result"),
	}
	m.registry.MustRegister(m.rotations, m.rotationFailures, m.unknownCreates, m.revocations,
		m.revocationFailures, m.revocationsHeld, m.lostCredentials, m.outOfBand, m.rootRotations, m.upstreamRequests, m.upstreamLatency, m.aitronosCache)
	return m
}

// observeUpstream records one upstream request attempt (httpx.Options.Observe).
func (m *engineMetrics) observeUpstream(op string, status int, elapsed time.Duration) {
	m.upstreamRequests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.upstreamLatency.WithLabelValues(op).Observe(elapsed.Seconds())
}

// observeAitronosCache records how an Aitronos token read was answered.
func (m *engineMetrics) observeAitronosCache(result string) {
	m.aitronosCache.WithLabelValues(result).Inc()
}

// fleetGauges are the gauges of the managed fleet (the number of
// connectors, the earliest expiry of a current credential and the expiry of
// the engine's own credential; each expiry left out when zero), in a
// registry made for the scrape.
func fleetGauges(managed int, earliest, rootExpiry, now time.Time) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metricsNamespace, Name: name, Help: help})
		g.Set(v)
		reg.MustRegister(g)
	}
	gauge("connectors_managed", "Connectors the engine manages.", float64(managed))
	if !earliest.IsZero() {
		gauge("credential_earliest_expiry_seconds",
			"Seconds until the earliest expiry of a current credential (negative once past); absent when none expires.",
			earliest.Sub(now).Seconds())
	}
	if !rootExpiry.IsZero() {
		gauge("root_credential_expiry_seconds",
			"Seconds until the engine's own C1 credential expires (negative once past); absent when it does not expire or is not known yet.",
			rootExpiry.Sub(now).Seconds())
	}
	return reg
}

// exposition is the Prometheus text exposition of the engine's metrics and
// the fleet's gauges.
func (m *engineMetrics) exposition(managed int, earliest, rootExpiry, now time.Time) ([]byte, error) {
	families, err := prometheus.Gatherers{m.registry, fleetGauges(managed, earliest, rootExpiry, now)}.Gather()
	if err != nil {
		return nil, fmt.Errorf("gathering metrics: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return nil, fmt.Errorf("encoding metrics: %w", err)
		}
	}
	return buf.Bytes(), nil
}
