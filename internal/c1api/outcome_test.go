package c1api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// simClient starts the upstream simulator with one connector and returns it
// with a client logging in with client credentials.
func simClient(t *testing.T) (*upstreamsim.Server, *Client) {
	t.Helper()
	sim := upstreamsim.New(upstreamsim.Options{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	secret, err := sim.RegisterClient(testClientID)
	if err != nil {
		t.Fatal(err)
	}
	sim.AddConnector("app", "conn")
	opts := fastHTTP()
	opts.Timeout = time.Second // generous for a loaded machine; the timeout case waits it out once
	c, err := New(Config{ServerURL: srv.URL, ClientID: testClientID, ClientSecret: secret, HTTP: opts})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// TestRotateOutcomesAgainstTheSimulator checks the outcome of a
// credential-creating call for each class of failure, that it is retried
// only when surely not applied, and whether a credential exists upstream.
func TestRotateOutcomesAgainstTheSimulator(t *testing.T) {
	cases := []struct {
		name    string
		fault   upstreamsim.Fault
		want    httpx.Outcome
		calls   int // rotate requests
		created int // credentials upstream afterwards
	}{
		{"success", upstreamsim.Fault{}, httpx.OutcomeApplied, 1, 1},
		{"429 then success", upstreamsim.Fault{Status: 429, RetryAfter: "0", Count: 1}, httpx.OutcomeApplied, 2, 1},
		{"429 with a long Retry-After", upstreamsim.Fault{Status: 429, RetryAfter: "3600"}, httpx.OutcomeNotApplied, 1, 0},
		{"404 unknown connector", upstreamsim.Fault{Status: 404}, httpx.OutcomeNotApplied, 1, 0},
		{"500 after the credential was created", upstreamsim.Fault{Status: 500, Commit: true}, httpx.OutcomeUnknown, 1, 1},
		{"timeout after the credential was created", upstreamsim.Fault{Status: 504, Commit: true, Latency: 10 * time.Second}, httpx.OutcomeUnknown, 1, 1},
		{"2xx without clientSecret", upstreamsim.Fault{Status: 200, Commit: true, Body: `{"credential":{"id":"cred-x"}}`}, httpx.OutcomeUnknown, 1, 1},
		{"2xx cut short", upstreamsim.Fault{Commit: true, Malformed: true}, httpx.OutcomeUnknown, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, c := simClient(t)
			if tc.fault.Status != 0 || tc.fault.Malformed {
				tc.fault.Op = upstreamsim.OpRotate
				sim.InjectFault(tc.fault)
			}
			cred, err := c.RotateCredential(context.Background(), "app", "conn")
			if got := httpx.OutcomeOf(err); got != tc.want {
				t.Fatalf("outcome %v, want %v (error %v)", got, tc.want, err)
			}
			if (err == nil) != (cred != nil && cred.ClientSecret != "") {
				t.Fatalf("credential %v with error %v", cred, err)
			}
			if n := sim.Calls(upstreamsim.OpRotate); n != tc.calls {
				t.Errorf("%d rotate requests, want %d", n, tc.calls)
			}
			if n := len(sim.Credentials("app", "conn")); n != tc.created {
				t.Errorf("%d credentials upstream, want %d", n, tc.created)
			}
			var he *httpx.Error
			if tc.name == "429 with a long Retry-After" && (!errors.As(err, &he) || he.RetryAfter != time.Hour) {
				t.Errorf("error does not carry the wait: %#v", err)
			}
		})
	}
}

func TestRefusedConnectionIsNotApplied(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	_, secret := testKey(t)
	for name, cfg := range map[string]Config{
		"static token":       {ServerURL: url, AccessToken: "tok", HTTP: fastHTTP()},
		"client credentials": {ServerURL: url, ClientID: testClientID, ClientSecret: secret, HTTP: fastHTTP()},
	} {
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RotateCredential(context.Background(), "app", "conn")
		var he *httpx.Error
		if httpx.OutcomeOf(err) != httpx.OutcomeNotApplied || !errors.As(err, &he) || he.Attempts != 3 {
			t.Errorf("%s: want not applied after 3 attempts, got %v", name, err)
		}
	}
}

func TestGetAndRevokeFollowTheOrdinaryRetryPolicy(t *testing.T) {
	sim, c := simClient(t)
	cred, err := c.RotateCredential(context.Background(), "app", "conn")
	if err != nil {
		t.Fatal(err)
	}
	sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpGet, Status: 500, Count: 1})
	if _, err := c.GetCredential(context.Background(), "app", "conn", cred.ID); err != nil {
		t.Fatalf("get after a 500: %v", err)
	}
	sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: 502, Commit: true, Count: 1})
	err = c.RevokeCredential(context.Background(), "app", "conn", cred.ID)
	if sim.Calls(upstreamsim.OpGet) != 2 || sim.Calls(upstreamsim.OpRevoke) != 2 {
		t.Fatalf("get %d and revoke %d requests, want 2 each", sim.Calls(upstreamsim.OpGet), sim.Calls(upstreamsim.OpRevoke))
	}
	// The retried revoke found the credential already revoked.
	if !httpx.IsNotFound(err) && err != nil {
		t.Fatalf("revoke: %v", err)
	}
}

// TestTokenRetriesReSignAgainstTheSimulator: the simulator accepts each
// assertion once and loses the first two answers, so only a client that
// signs every retry afresh gets a token.
func TestTokenRetriesReSignAgainstTheSimulator(t *testing.T) {
	sim, c := simClient(t)
	sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpToken, Status: http.StatusServiceUnavailable, Commit: true, Count: 2})
	if _, err := c.RotateCredential(context.Background(), "app", "conn"); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if n := sim.Calls(upstreamsim.OpToken); n != 3 {
		t.Fatalf("%d token requests, want 3", n)
	}
}
