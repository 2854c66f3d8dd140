package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// The stand-in reads its credential once, logs in at every tick, records a
// refused login once the credential is revoked, and stops cleanly.
func TestLogsInEachTickAndRecordsRefusals(t *testing.T) {
	sim := upstreamsim.New(upstreamsim.Options{})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	sim.AddBearerToken("admin-token")
	sim.AddConnector("app", "conn")
	admin, err := c1api.New(c1api.Config{ServerURL: ts.URL, AccessToken: "admin-token"})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := admin.RotateCredential(context.Background(), "app", "conn")
	if err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"BATON_CLIENT_ID": cred.ClientID, "BATON_CLIENT_SECRET": cred.ClientSecret}
	reads := map[string]int{}
	getenv := func(k string) string { reads[k]++; return env[k] }
	eventsPath := filepath.Join(t.TempDir(), "events.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tick := make(chan time.Time)
	recorded := make(chan event, 10)
	next := func(want string) {
		t.Helper()
		if e := <-recorded; e.Event != want {
			t.Fatalf("event %+v, want %s", e, want)
		}
	}
	done := make(chan error, 1)
	stderr := &bytes.Buffer{}
	go func() {
		done <- run(ctx, []string{"-server-url", ts.URL, "-events", eventsPath}, getenv, stderr,
			hooks{tick: tick, recorded: func(e event) { recorded <- e }})
	}()

	next(eventStart)
	next(eventLogin) // at start, before any tick
	tick <- time.Now()
	next(eventLogin)
	if st, _ := sim.Credential(cred.ID); st.LastUsedAt.IsZero() {
		t.Fatal("logins did not reach the token endpoint (lastUsedAt unset)")
	}
	// A change of the environment is not seen: the credential is read once.
	env["BATON_CLIENT_ID"] = "someone-else@127.0.0.1/pcc"
	sim.RevokeOutOfBand(cred.ID)
	tick <- time.Now()
	next(eventRefused)
	cancel()
	next(eventStop)
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v (stderr %s)", err, stderr)
	}

	raw, err := os.ReadFile(eventsPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), cred.ClientSecret) || strings.Contains(string(raw), "secret-token") {
		t.Fatal("the events file holds the secret")
	}
	var kinds []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("events line %q: %v", sc.Text(), err)
		}
		if e.ClientID != cred.ClientID || e.PID != os.Getpid() || e.Time.IsZero() {
			t.Errorf("event %+v: want the credential's client id, this pid and a time", e)
		}
		if e.Event == eventRefused && (e.Status != 401 || !strings.Contains(e.Error, "revoked")) {
			t.Errorf("refused event %+v: want status 401 and the reason", e)
		}
		kinds = append(kinds, e.Event)
	}
	want := []string{eventStart, eventLogin, eventLogin, eventRefused, eventStop}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	if reads["BATON_CLIENT_ID"] != 1 || reads["BATON_CLIENT_SECRET"] != 1 {
		t.Errorf("environment read %v times, want once each", reads)
	}
}

func TestRefusesMissingSettings(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"BATON_CLIENT_ID": "a@h/pcc", "BATON_CLIENT_SECRET": "s"}, "-events is required"},
		{[]string{"-events", filepath.Join(dir, "e")}, map[string]string{"BATON_CLIENT_ID": "a@h/pcc"}, "BATON_CLIENT_SECRET must be set"},
		{[]string{"-events", filepath.Join(dir, "e"), "-interval", "0s"}, nil, "-interval must be positive"},
		{[]string{"-events", filepath.Join(dir, "e")}, map[string]string{"BATON_CLIENT_ID": "a@h/pcc", "BATON_CLIENT_SECRET": "not-a-secret"}, "client secret"},
	} {
		err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &bytes.Buffer{}, hooks{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("args %v env keys %d: error %v, want %q", tc.args, len(tc.env), err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "not-a-secret") {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}
