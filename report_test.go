package c1

import (
	"bytes"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// scrape reads the metrics path and parses its Prometheus text.
func scrape(t *testing.T, e *testEnv) map[string]*dto.MetricFamily {
	t.Helper()
	resp := e.mustDo(logical.ReadOperation, "metrics", nil)
	if ct, _ := resp.Data[logical.HTTPContentType].(string); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q, want the Prometheus text format", ct)
	}
	body, ok := resp.Data[logical.HTTPRawBody].([]byte)
	if !ok {
		t.Fatalf("the metrics read has no raw body: %v", resp.Data)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the metrics are not valid Prometheus text: %v\n%s", err, body)
	}
	return families
}

// sample is the value of the sample of family name whose labels include
// labels (name=value pairs); ok is false when there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsEventsAndLogsOfTheLifecycle(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	first := e.configureAndRegister(nil)
	rotatePath := "rotate/" + testApp + "/" + testConnector
	e.mustDo(logical.UpdateOperation, rotatePath, map[string]any{"revoke_previous": true})

	// A create the upstream refuses, then one whose answer is lost after the
	// upstream acted.
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Status: 400, Count: 1})
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); err == nil {
		t.Fatal("a rotation the upstream refused succeeded")
	}
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Status: 500, Commit: true, Count: 1})
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); err == nil {
		t.Fatal("a rotation whose answer was lost succeeded")
	}

	m := scrape(t, e)
	conn := testApp + "/" + testConnector
	current := e.connector().Current
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"c1_credential_rotations_total", []string{"connector", conn}, 2},
		{"c1_credential_revocations_total", []string{"connector", conn}, 1},
		{"c1_credential_rotation_failures_total", []string{"connector", conn, "outcome", "not_applied"}, 1},
		{"c1_credential_rotation_failures_total", []string{"connector", conn, "outcome", "unknown"}, 1},
		{"c1_credential_creates_unknown_outcome_total", []string{"connector", conn}, 1},
		{"c1_upstream_requests_total", []string{"endpoint", "c1 rotate credential", "status", "200"}, 2},
		{"c1_upstream_requests_total", []string{"endpoint", "c1 rotate credential", "status", "400"}, 1},
		{"c1_upstream_requests_total", []string{"endpoint", "c1 rotate credential", "status", "500"}, 1},
		{"c1_upstream_requests_total", []string{"endpoint", "c1 revoke credential", "status", "200"}, 1},
		{"c1_upstream_request_duration_seconds", []string{"endpoint", "c1 rotate credential"}, 4},
		{"c1_connectors_managed", nil, 1},
		{"c1_credential_earliest_expiry_seconds", nil, current.ExpiresTime.Sub(e.clock.Now()).Seconds()},
	} {
		got, ok := sample(m, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}

	// Vault events: two rotations, one revocation, two failures; metadata
	// names the connector and credential, never a secret.
	e.events.Lock()
	events := append([]logical.MockEvent(nil), e.events.Events...)
	e.events.Unlock()
	count := map[string]int{}
	for _, ev := range events {
		count[string(ev.Type)]++
		md := ev.Event.GetMetadata().AsMap()
		if md["connector"] != conn || md["data_path"] != "creds/"+conn {
			t.Errorf("event %s: metadata %v", ev.Type, md)
		}
		for _, c := range e.sim.Credentials(testApp, testConnector) {
			for k, v := range md {
				if v == c.Secret {
					t.Errorf("event %s: metadata %s is a secret", ev.Type, k)
				}
			}
		}
		if ev.Type == "c1/credential-revoke" && md["credential_id"] != first {
			t.Errorf("revoke event names %v, want %s", md["credential_id"], first)
		}
	}
	want := map[string]int{"c1/credential-rotate": 2, "c1/credential-revoke": 1, "c1/credential-rotate-failed": 2}
	for typ, n := range want {
		if count[typ] != n {
			t.Errorf("%d %s events, want %d (all: %v)", count[typ], typ, n, count)
		}
	}

	// Logs: one key set, levels by what an operator must do.
	logs := e.logs.String()
	for _, line := range []string{
		"[INFO]  connector credential rotated: connector=" + conn + " credential_id=" + current.ID,
		"[INFO]  connector credential revoked: connector=" + conn + " credential_id=" + first,
		"[WARN]  creating a connector credential failed; retried on the next periodic run: connector=" + conn + " outcome=not_applied",
		"[WARN]  " + unknownCreateMessage + ": connector=" + conn + " outcome=unknown",
	} {
		if !strings.Contains(logs, line) {
			t.Errorf("the log lacks %q:\n%s", line, logs)
		}
	}
}

func TestEventsWithoutAnEventSystemAreANoOp(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	// As in a Vault edition without events.
	e.b.Backend.Setup(t.Context(), &logical.BackendConfig{
		StorageView: e.storage, Logger: e.b.Logger(), System: e.b.System(),
	})
	e.register(nil)
	if e.connector().Current == nil {
		t.Fatal("registration failed without an event system")
	}
	if strings.Contains(e.logs.String(), "sending a Vault event failed") {
		t.Error("a missing event system was logged as a failure")
	}
}

func TestRevocationHeldBackByLeasesIsCounted(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configureAndRegister(map[string]any{"revoke_grace": "1m"})
	// A lease reaching past the grace holds the revocation back.
	e.mustDo(logical.ReadOperation, "creds/"+testApp+"/"+testConnector, nil)
	e.mustDo(logical.UpdateOperation, "rotate/"+testApp+"/"+testConnector, nil)
	m := scrape(t, e)
	if got, _ := sample(m, "c1_credential_revocations_held_back_total", "connector", testApp+"/"+testConnector, "reason", "leases"); got != 1 {
		t.Errorf("held-back revocations = %v, want 1", got)
	}
	if !strings.Contains(e.logs.String(), "[INFO]  a replaced credential's revocation waits past its grace") {
		t.Error("the held-back revocation is not logged")
	}
}

func TestAitronosCacheLookupsAreCounted(t *testing.T) {
	e := newOAuthEnv(t, map[string]any{"aitronos_cache_ttl": "30s"})
	for range 3 {
		e.mustDo(logical.ReadOperation, "oauth/by-connection/conn_abc", nil)
	}
	m := scrape(t, e)
	hits, _ := sample(m, "c1_aitronos_cache_lookups_total", "result", "hit")
	misses, _ := sample(m, "c1_aitronos_cache_lookups_total", "result", "miss")
	if hits != 2 || misses != 1 {
		t.Errorf("cache hits %v, misses %v; want 2 and 1", hits, misses)
	}
	if _, ok := sample(m, "c1_credential_earliest_expiry_seconds"); ok {
		t.Error("an expiry is reported with no managed credential")
	}
}

// TestReportLevelsAndKeys checks each event's level, its keys and that an
// operator can filter on them: INFO for rotations and revocations, WARN for
// what needs a human, ERROR for a lost credential.
func TestReportLevelsAndKeys(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	k := lifecycle.Key{AppID: testApp, ConnectorID: testConnector}
	lost := &httpx.Error{Op: "c1 revoke credential", Status: 503, Outcome: httpx.OutcomeNotApplied}
	for ev, level := range map[lifecycleEvent]string{
		eventRotated:             "[INFO] ",
		eventRevoked:             "[INFO] ",
		eventRevokeHeldBack:      "[INFO] ",
		eventRevokeHeldBackInUse: "[WARN] ",
		eventRotateFailed:        "[WARN] ",
		eventRevokeFailed:        "[WARN] ",
		eventCredentialLost:      "[ERROR]",
	} {
		var cause error
		if level != "[INFO] " {
			cause = lost
		}
		before := len(e.logs.String())
		e.b.report(t.Context(), ev, k, "cred-"+string(ev), cause)
		line := e.logs.String()[before:]
		if !strings.Contains(line, level) || !strings.Contains(line, "connector="+k.String()+" credential_id=cred-"+string(ev)) {
			t.Errorf("%s: logged %q, want level %s with connector and credential_id", ev, line, level)
		}
		if cause != nil && !strings.Contains(line, "outcome=not_applied") {
			t.Errorf("%s: logged %q without the outcome", ev, line)
		}
	}
	if got, _ := sample(scrape(t, e), "c1_credentials_lost_total", "connector", k.String()); got != 1 {
		t.Errorf("lost credentials = %v, want 1", got)
	}
}
