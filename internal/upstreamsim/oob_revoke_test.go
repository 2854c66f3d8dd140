package upstreamsim

import (
	"net/http"
	"testing"
	"time"
)

// A connector logging in with its credential moves lastUsedAt; an
// administrator's out-of-band revoke stops the credential, drops its tokens
// and shows as deletedAt, or as a 404 once the simulator hides deleted ones.
func TestOutOfBandRevokeAndLastUsedAt(t *testing.T) {
	e := newEnv(t, Options{Admin: true})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("a", "c")
	r := e.rotate("tok", "a", "c")
	wantStatus(t, r, http.StatusOK)
	cred := sub(r.body, "credential")
	id, clientID, secret := cred["id"].(string), cred["clientId"].(string), cred["clientSecret"].(string)

	get := func() map[string]any {
		t.Helper()
		g := e.do(http.MethodGet, credPath("a", "c", id), bearer("tok"), "")
		wantStatus(t, g, http.StatusOK)
		return sub(g.body, "credential")
	}
	if v, ok := get()["lastUsedAt"]; ok {
		t.Fatalf("lastUsedAt %v before any login", v)
	}
	e.s.Advance(90 * time.Second)
	connTok := e.token(clientID, secret)
	if got := get()["lastUsedAt"]; got != "2026-03-01T12:01:30Z" {
		t.Fatalf("lastUsedAt after a login at 12:01:30: %v", got)
	}

	e.s.Advance(time.Minute)
	wantStatus(t, e.do(http.MethodPost, "/_sim/c1/credentials/revoke", nil, `{"id":"nope"}`), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodPost, "/_sim/c1/credentials/revoke", nil, `{}`), http.StatusBadRequest)
	rv := e.do(http.MethodPost, "/_sim/c1/credentials/revoke", nil, `{"id":"`+id+`"}`)
	wantStatus(t, rv, http.StatusOK)
	if rv.body["revoked"] != true || rv.body["revoked_at"] != "2026-03-01T12:02:30Z" || rv.body["last_used_at"] != "2026-03-01T12:01:30Z" {
		t.Fatalf("admin revoke answer %s", rv.raw)
	}
	if _, ok := rv.body["client_secret"]; ok {
		t.Fatal("admin revoke answer carries a secret")
	}
	// A repeated revoke keeps the first time.
	e.s.Advance(time.Minute)
	if st, _ := e.s.RevokeOutOfBand(id); !st.RevokedAt.Equal(t0.Add(150 * time.Second)) {
		t.Fatalf("second revoke moved revoked_at to %v", st.RevokedAt)
	}

	if e.s.ValidCredential(clientID, secret) {
		t.Fatal("revoked credential still authenticates")
	}
	if got := get()["deletedAt"]; got != "2026-03-01T12:02:30Z" {
		t.Fatalf("deletedAt %v", got)
	}
	// The token the connector held is gone: the API refuses it (401, not 403).
	wantStatus(t, e.do(http.MethodGet, credPath("a", "c", id), bearer(connTok), ""), http.StatusUnauthorized)
	// The engine's own revoke now meets a 404.
	wantStatus(t, e.do(http.MethodPost, credPath("a", "c", id), bearer("tok"), "{}"), http.StatusNotFound)

	wantStatus(t, e.do(http.MethodPut, "/_sim/c1/deleted-credentials", nil, `{"answer":"gone"}`), http.StatusBadRequest)
	wantStatus(t, e.do(http.MethodPut, "/_sim/c1/deleted-credentials", nil, `{"answer":"not_found"}`), http.StatusOK)
	wantStatus(t, e.do(http.MethodGet, credPath("a", "c", id), bearer("tok"), ""), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodPut, "/_sim/c1/deleted-credentials", nil, `{"answer":"deleted_at"}`), http.StatusOK)
	get()
}
