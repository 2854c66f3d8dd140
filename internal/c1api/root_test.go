package c1api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

const (
	testSPID  = "sp-engine"
	testSPCID = "engine@acme.conductor.one/spc"
	day       = 24 * time.Hour
)

var personal = RootScope{}

// rootSim is the simulator with the engine's root credential registered.
type rootSim struct {
	t    *testing.T
	sim  *upstreamsim.Server
	url  string
	root upstreamsim.RootCredentialState
}

// newRootSim starts the simulator with a root credential in scope that
// expires in ttl, on a fixed clock the tests move.
func newRootSim(t *testing.T, scope RootScope, ttl time.Duration) *rootSim {
	t.Helper()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sim := upstreamsim.New(upstreamsim.Options{Now: func() time.Time { return start }})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	var root upstreamsim.RootCredentialState
	var err error
	if scope.personal() {
		root, err = sim.RegisterPersonalClient(testClientID, upstreamsim.RootOptions{ExpiresIn: ttl})
	} else {
		sim.AddServicePrincipal(scope.ServicePrincipalID)
		root, err = sim.RegisterServicePrincipalCredential(scope.ServicePrincipalID, testSPCID, upstreamsim.RootOptions{ExpiresIn: ttl})
	}
	if err != nil {
		t.Fatal(err)
	}
	return &rootSim{t: t, sim: sim, url: srv.URL, root: root}
}

// client logs in as clientID with secret, on the simulator's clock.
func (s *rootSim) client(clientID, secret string) *Client {
	s.t.Helper()
	opts := fastHTTP()
	opts.Timeout = time.Second
	c, err := New(Config{ServerURL: s.url, ClientID: clientID, ClientSecret: secret, HTTP: opts, Now: s.sim.Now})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func (s *rootSim) rootClient() *Client { return s.client(s.root.ClientID, s.root.Secret) }

// created is how many root credentials the simulator holds besides the
// registered one.
func (s *rootSim) created() int { return len(s.sim.RootCredentials()) - 1 }

func TestPersonalClientRootLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newRootSim(t, personal, 30*day)
	c := s.rootClient()

	s.sim.Advance(time.Hour)
	cred, secret, err := c.CreateRootCredential(ctx, personal, RootCredentialSpec{
		DisplayName: "engine-2", Expires: 90*day + 500*time.Millisecond, ScopedRoles: []string{"role-1"},
		AllowSourceCIDRs: []string{"127.0.0.0/8"},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := s.sim.Now()
	if cred.ID == "" || cred.DisplayName != "engine-2" || cred.UserID != upstreamsim.DefaultUserID || cred.ServicePrincipalID != "" ||
		!cred.CreatedAt.Equal(now) || !cred.ExpiresTime.Equal(now.Add(90*day)) || !cred.LastUsedAt.IsZero() || !cred.DeletedAt.IsZero() ||
		strings.Join(cred.ScopedRoles, ",") != "role-1" || strings.Join(cred.AllowSourceCIDRs, ",") != "127.0.0.0/8" {
		t.Fatalf("created %+v", cred)
	}
	if err := ValidateClientID(cred.ClientID); err != nil || !strings.HasSuffix(cred.ClientID, "/pcc") {
		t.Fatalf("client id %q: %v", cred.ClientID, err)
	}
	if st, _ := s.sim.RootCredential(cred.ID); st.Secret != secret || st.ClientID != cred.ClientID {
		t.Fatal("the secret answered is not the simulator's")
	}

	list, err := c.ListRootCredentials(ctx, personal)
	if err != nil || len(list) != 2 || list[0].ID != s.root.ID || list[1].ID != cred.ID {
		t.Fatalf("list %+v %v", list, err)
	}
	if !list[0].LastUsedAt.Equal(now) {
		t.Fatalf("the engine's login is not in lastUsedAt: %v", list[0].LastUsedAt)
	}
	got, err := c.GetRootCredential(ctx, personal, cred.ID)
	if err != nil || got.ClientID != cred.ClientID || !got.ExpiresTime.Equal(cred.ExpiresTime) {
		t.Fatalf("get %+v %v", got, err)
	}
	found, err := c.FindRootCredential(ctx, personal, s.root.ClientID)
	if err != nil || found.ID != s.root.ID {
		t.Fatalf("find %+v %v", found, err)
	}
	if _, err := c.FindRootCredential(ctx, personal, "ghost@acme.conductor.one/pcc"); !errors.Is(err, ErrRootCredentialNotFound) {
		t.Fatalf("find of a missing client id: %v", err)
	}

	// The new credential logs in and deletes the old one, which then can
	// neither log in nor use the token it held.
	s.sim.Advance(time.Minute)
	next := s.client(cred.ClientID, secret)
	if err := next.Login(ctx); err != nil {
		t.Fatalf("login with the new credential: %v", err)
	}
	if err := next.DeleteRootCredential(ctx, personal, s.root.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.rootClient().Login(ctx); httpx.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("login with the deleted credential: %v", err)
	}
	_, err = c.ListRootCredentials(ctx, personal)
	if httpx.StatusOf(err) != http.StatusUnauthorized || httpx.OutcomeOf(err) != httpx.OutcomeNotApplied {
		t.Fatalf("call with the deleted credential: %v", err)
	}
	old, err := next.GetRootCredential(ctx, personal, s.root.ID)
	if err != nil || !old.DeletedAt.Equal(s.sim.Now()) {
		t.Fatalf("deleted get %+v %v", old, err)
	}
	err = next.DeleteRootCredential(ctx, personal, s.root.ID)
	if !httpx.IsNotFound(err) || !errors.Is(err, ErrRootCredentialNotFound) || httpx.OutcomeOf(err) != httpx.OutcomeNotApplied {
		t.Fatalf("second delete: %v", err)
	}
	if list, err := next.ListRootCredentials(ctx, personal); err != nil || len(list) != 1 || list[0].ID != cred.ID ||
		!list[0].LastUsedAt.Equal(s.sim.Now()) {
		t.Fatalf("list after delete %+v %v", list, err)
	}

	// Once expired, the new one cannot log in either.
	s.sim.Advance(90 * day)
	if err := s.client(cred.ClientID, secret).Login(ctx); httpx.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("login with an expired credential: %v", err)
	}
}

func TestPersonalClientWithoutExpiry(t *testing.T) {
	s := newRootSim(t, personal, 0)
	cred, _, err := s.rootClient().CreateRootCredential(context.Background(), personal, RootCredentialSpec{DisplayName: "forever"})
	if err != nil || !cred.ExpiresTime.IsZero() {
		t.Fatalf("created %+v %v", cred, err)
	}
}

func TestServicePrincipalRootLifecycle(t *testing.T) {
	ctx := context.Background()
	scope := RootScope{ServicePrincipalID: testSPID}
	s := newRootSim(t, scope, time.Hour)
	c := s.rootClient()

	cred, secret, err := c.CreateRootCredential(ctx, scope, RootCredentialSpec{
		DisplayName: "engine-2", Expires: MaxServicePrincipalCredentialLifetime, ScopedRoles: []string{"r"},
		AllowSourceCIDRs: []string{"127.0.0.1/32"},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := s.sim.Now()
	if cred.ServicePrincipalID != testSPID || cred.UserID != "" || !strings.HasSuffix(cred.ClientID, "/spc") ||
		!cred.ExpiresTime.Equal(now.Add(MaxServicePrincipalCredentialLifetime)) ||
		strings.Join(cred.ScopedRoles, ",") != "r" || strings.Join(cred.AllowSourceCIDRs, ",") != "127.0.0.1/32" {
		t.Fatalf("created %+v", cred)
	}
	if err := ValidateClientID(cred.ClientID); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListRootCredentials(ctx, scope)
	if err != nil || len(list) != 2 || list[1].ID != cred.ID || list[0].ClientID != testSPCID {
		t.Fatalf("list %+v %v", list, err)
	}
	if found, err := c.FindRootCredential(ctx, scope, cred.ClientID); err != nil || found.ID != cred.ID {
		t.Fatalf("find %+v %v", found, err)
	}

	// The registered root expires; the new one logs in and deletes it.
	s.sim.Advance(time.Hour)
	if err := s.rootClient().Login(ctx); httpx.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("login with the expired credential: %v", err)
	}
	next := s.client(cred.ClientID, secret)
	if err := next.Login(ctx); err != nil {
		t.Fatalf("login with the new credential: %v", err)
	}
	if err := next.DeleteRootCredential(ctx, scope, s.root.ID); err != nil {
		t.Fatal(err)
	}
	// A deleted service-principal credential reads as missing.
	if _, err := next.GetRootCredential(ctx, scope, s.root.ID); !httpx.IsNotFound(err) || !errors.Is(err, ErrRootCredentialNotFound) {
		t.Fatalf("get of the deleted credential: %v", err)
	}
	if st, _ := s.sim.RootCredential(s.root.ID); !st.Deleted {
		t.Fatal("not deleted upstream")
	}
	if _, err := next.ListRootCredentials(ctx, RootScope{ServicePrincipalID: "sp-ghost"}); !httpx.IsNotFound(err) {
		t.Fatalf("unknown service principal: %v", err)
	}
	// A service principal has no personal clients.
	if _, err := next.ListRootCredentials(ctx, personal); httpx.StatusOf(err) != http.StatusForbidden {
		t.Fatalf("personal clients of a service principal: %v", err)
	}
}

func TestListRootCredentialsFollowsEveryPage(t *testing.T) {
	ctx := context.Background()
	s := newRootSim(t, personal, 0)
	s.sim.SetPageSize(2)
	c := s.rootClient()
	want := []string{s.root.ID}
	for range 4 {
		cred, _, err := c.CreateRootCredential(ctx, personal, RootCredentialSpec{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, cred.ID)
	}
	list, err := c.ListRootCredentials(ctx, personal)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || s.sim.Calls(upstreamsim.OpPersonalClientList) != 3 {
		t.Fatalf("%v in %d pages, want %v in 3", got, s.sim.Calls(upstreamsim.OpPersonalClientList), want)
	}
	// Finding the last one reads every page too.
	if found, err := c.FindRootCredential(ctx, personal, list[4].ClientID); err != nil || found.ID != want[4] {
		t.Fatalf("find %+v %v", found, err)
	}
	// A page that fails fails the list.
	s.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpPersonalClientList, Status: 400})
	if _, err := c.ListRootCredentials(ctx, personal); httpx.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("failed page: %v", err)
	}
}

// TestCreateRootCredentialOutcomes checks the outcome of a create for each
// class of failure, that it is retried only when surely not applied, and
// whether a credential exists upstream afterwards.
func TestCreateRootCredentialOutcomes(t *testing.T) {
	cases := []struct {
		name    string
		fault   upstreamsim.Fault
		want    httpx.Outcome
		calls   int
		created int
		lostID  string // an *UnusableCredentialError names it
	}{
		{"success", upstreamsim.Fault{}, httpx.OutcomeApplied, 1, 1, ""},
		{"429 then success", upstreamsim.Fault{Status: 429, RetryAfter: "0", Count: 1}, httpx.OutcomeApplied, 2, 1, ""},
		{"503 not committed is not retried", upstreamsim.Fault{Status: 503}, httpx.OutcomeUnknown, 1, 0, ""},
		{"refused", upstreamsim.Fault{Status: 400}, httpx.OutcomeNotApplied, 1, 0, ""},
		{"forbidden", upstreamsim.Fault{Status: 403}, httpx.OutcomeNotApplied, 1, 0, ""},
		{"answer lost after the create", upstreamsim.Fault{Status: 502, Commit: true}, httpx.OutcomeUnknown, 1, 1, ""},
		{"2xx cut short", upstreamsim.Fault{Commit: true, Malformed: true}, httpx.OutcomeUnknown, 1, 1, ""},
		{"2xx without clientSecret", upstreamsim.Fault{Status: 200, Commit: true, Body: `{"personalClient":{"id":"pc-lost","clientId":"a@b/pcc"}}`},
			httpx.OutcomeUnknown, 1, 1, "pc-lost"},
		{"2xx without clientId", upstreamsim.Fault{Status: 200, Commit: true,
			Body: `{"personalClient":{"id":"pc-lost"},"clientSecret":"secret-token:conductorone.com:v1:e30"}`},
			httpx.OutcomeUnknown, 1, 1, "pc-lost"},
		{"2xx with a broken secret", upstreamsim.Fault{Status: 200, Commit: true,
			Body: `{"personalClient":{"id":"pc-lost","clientId":"a@b/pcc"},"clientSecret":"secret-token:conductorone.com:v1:e30"}`},
			httpx.OutcomeUnknown, 1, 1, "pc-lost"},
		{"2xx without id", upstreamsim.Fault{Status: 200, Commit: true, Body: `{"personalClient":{}}`}, httpx.OutcomeUnknown, 1, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newRootSim(t, personal, 0)
			c := s.rootClient()
			if err := c.Login(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.fault.Status != 0 || tc.fault.Malformed {
				tc.fault.Op = upstreamsim.OpPersonalClientCreate
				s.sim.InjectFault(tc.fault)
			}
			cred, secret, err := c.CreateRootCredential(context.Background(), personal, RootCredentialSpec{Expires: day})
			if got := httpx.OutcomeOf(err); got != tc.want {
				t.Fatalf("outcome %v, want %v (error %v)", got, tc.want, err)
			}
			if (err == nil) != (cred != nil && secret != "") {
				t.Fatalf("credential %+v, secret given %v, error %v", cred, secret != "", err)
			}
			if n := s.sim.Calls(upstreamsim.OpPersonalClientCreate); n != tc.calls {
				t.Errorf("%d create requests, want %d", n, tc.calls)
			}
			if n := s.created(); n != tc.created {
				t.Errorf("%d created upstream, want %d", n, tc.created)
			}
			var unusable *UnusableCredentialError
			if got := errors.As(err, &unusable); got != (tc.lostID != "") || got && (unusable.CredentialID != tc.lostID ||
				!strings.HasPrefix(err.Error(), "c1 create personal client: answer for credential pc-lost")) {
				t.Errorf("unusable error %v", err)
			}
			if err != nil && strings.Contains(err.Error(), "secret-token") {
				t.Errorf("error carries a secret: %v", err)
			}
		})
	}
}

func TestCreateServicePrincipalCredentialAnswerLost(t *testing.T) {
	scope := RootScope{ServicePrincipalID: testSPID}
	s := newRootSim(t, scope, day)
	s.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpSPCredentialCreate, Status: 504, Commit: true})
	_, _, err := s.rootClient().CreateRootCredential(context.Background(), scope, RootCredentialSpec{Expires: day})
	if httpx.OutcomeOf(err) != httpx.OutcomeUnknown || s.created() != 1 || s.sim.Calls(upstreamsim.OpSPCredentialCreate) != 1 {
		t.Fatalf("outcome %v, %d created: %v", httpx.OutcomeOf(err), s.created(), err)
	}
	if !strings.HasPrefix(err.Error(), "c1 create service-principal credential: POST /api/v1/service_principals/sp-engine/credentials: 504") {
		t.Fatalf("error %v", err)
	}
}

func TestCreateRootCredentialRefusedArguments(t *testing.T) {
	sp := RootScope{ServicePrincipalID: testSPID}
	s := newRootSim(t, sp, day)
	c := s.rootClient()
	for name, tc := range map[string]struct {
		scope RootScope
		spec  RootCredentialSpec
	}{
		"negative expiry":                  {personal, RootCredentialSpec{Expires: -time.Second}},
		"under a second":                   {personal, RootCredentialSpec{Expires: 500 * time.Millisecond}},
		"service principal without expiry": {sp, RootCredentialSpec{}},
		"service principal over 180 days":  {sp, RootCredentialSpec{Expires: MaxServicePrincipalCredentialLifetime + time.Second}},
		"dot service principal id":         {RootScope{ServicePrincipalID: ".."}, RootCredentialSpec{Expires: day}},
	} {
		_, _, err := c.CreateRootCredential(context.Background(), tc.scope, tc.spec)
		if err == nil || httpx.OutcomeOf(err) != httpx.OutcomeNotApplied {
			t.Errorf("%s: %v (%v)", name, err, httpx.OutcomeOf(err))
		}
	}
	if n := s.sim.Calls(upstreamsim.OpSPCredentialCreate) + s.sim.Calls(upstreamsim.OpPersonalClientCreate); n != 0 {
		t.Fatalf("%d create requests sent", n)
	}
	// What the upstream refuses is not applied either.
	_, _, err := c.CreateRootCredential(context.Background(), sp, RootCredentialSpec{Expires: day, AllowSourceCIDRs: []string{"bogus"}})
	if httpx.StatusOf(err) != http.StatusBadRequest || httpx.OutcomeOf(err) != httpx.OutcomeNotApplied || s.created() != 0 {
		t.Fatalf("refused upstream: %v", err)
	}
}

func TestGetAndDeleteMissingRootCredential(t *testing.T) {
	ctx := context.Background()
	s := newRootSim(t, personal, 0)
	c := s.rootClient()
	_, err := c.GetRootCredential(ctx, personal, "nope")
	if !httpx.IsNotFound(err) || !errors.Is(err, ErrRootCredentialNotFound) || s.sim.Calls(upstreamsim.OpPersonalClientGet) != 1 {
		t.Fatalf("get: %v", err)
	}
	err = c.DeleteRootCredential(ctx, personal, "nope")
	if !httpx.IsNotFound(err) || !errors.Is(err, ErrRootCredentialNotFound) || httpx.OutcomeOf(err) != httpx.OutcomeNotApplied ||
		s.sim.Calls(upstreamsim.OpPersonalClientDelete) != 1 {
		t.Fatalf("delete: %v", err)
	}
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.GetRootCredential(ctx, personal, id); err == nil || httpx.OutcomeOf(err) != httpx.OutcomeNotApplied {
			t.Errorf("get %q: %v", id, err)
		}
		if err := c.DeleteRootCredential(ctx, personal, id); err == nil || httpx.OutcomeOf(err) != httpx.OutcomeNotApplied {
			t.Errorf("delete %q: %v", id, err)
		}
	}
	if _, err := c.FindRootCredential(ctx, personal, ""); err == nil {
		t.Error("find of an empty client id")
	}
	// A delete whose answer is lost is sent again and meets a 404: the
	// credential is gone either way.
	cred, _, err := c.CreateRootCredential(ctx, personal, RootCredentialSpec{})
	if err != nil {
		t.Fatal(err)
	}
	s.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpPersonalClientDelete, Status: 502, Commit: true, Count: 1})
	err = c.DeleteRootCredential(ctx, personal, cred.ID)
	if !httpx.IsNotFound(err) || s.sim.Calls(upstreamsim.OpPersonalClientDelete) != 3 {
		t.Fatalf("retried delete: %v", err)
	}
	if st, _ := s.sim.RootCredential(cred.ID); !st.Deleted {
		t.Fatal("not deleted")
	}
}

// TestRootWireFormat checks the requests' exact shape and reads the answers'
// variants: the secret inside the credential, absent lists, fields spelt
// either way.
func TestRootWireFormat(t *testing.T) {
	srv := newServer(t)
	var bodies []map[string]any
	srv.mux.HandleFunc("POST /api/v1/iam/personal_clients", func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		_ = decodeBody(r, &b)
		bodies = append(bodies, b)
		writeJSON(w, 200, map[string]any{"personalClient": map[string]any{"id": "pc1", "clientId": "n@h.example/pcc",
			"clientSecret": "SECRET", "allowSourceCidrs": []string{"10.0.0.0/8"}, "expiresTime": nil}})
	})
	srv.mux.HandleFunc("POST /api/v1/service_principals/sp%2F1/credentials", func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		_ = decodeBody(r, &b)
		bodies = append(bodies, b)
		writeJSON(w, 200, map[string]any{"credential": map[string]any{"id": "c1", "clientId": "n@h.example/spc",
			"scopedRoleIds": []string{"r"}, "expiresAt": "2026-01-01T00:00:00Z"}, "clientSecret": "SECRET"})
	})
	srv.mux.HandleFunc("GET /api/v1/iam/personal_clients", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("page_token") {
		case "":
			writeJSON(w, 200, map[string]any{"list": []any{map[string]any{"id": "a"}}, "nextPageToken": "t 1"})
		case "t 1":
			writeJSON(w, 200, map[string]any{"nextPageToken": ""})
		default:
			t.Errorf("page token %q", r.URL.Query().Get("page_token"))
		}
	})
	srv.mux.HandleFunc("GET /api/v1/service_principals/loop/credentials", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"list": []any{}, "nextPageToken": "again"})
	})
	srv.mux.HandleFunc("DELETE /api/v1/iam/personal_clients/x", func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		if err := decodeBody(r, &b); err != nil || len(b) != 0 {
			t.Errorf("delete body %v %v", b, err)
		}
		writeJSON(w, 200, map[string]any{})
	})
	c, err := New(Config{ServerURL: srv.srv.URL, AccessToken: "tok", HTTP: fastHTTP()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The secret is checked: "SECRET" is no C1 secret.
	_, _, err = c.CreateRootCredential(ctx, personal, RootCredentialSpec{})
	var unusable *UnusableCredentialError
	if !errors.As(err, &unusable) || unusable.CredentialID != "pc1" || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("create: %v", err)
	}
	_, _, err = c.CreateRootCredential(ctx, RootScope{ServicePrincipalID: "sp/1"}, RootCredentialSpec{DisplayName: "d", Expires: 90*day + time.Second/2,
		ScopedRoles: []string{"r"}, AllowSourceCIDRs: []string{"10.0.0.0/8"}})
	if !errors.As(err, &unusable) || unusable.CredentialID != "c1" {
		t.Fatalf("create: %v", err)
	}
	if len(bodies) != 2 {
		t.Fatalf("%d bodies", len(bodies))
	}
	pc, spc := bodies[0], bodies[1]
	if len(pc) != 3 || pc["displayName"] != "" || pc["expires"] != nil || len(pc["scopedRoles"].([]any)) != 0 ||
		len(pc["allowSourceCidr"].([]any)) != 0 {
		t.Errorf("personal client body %v", pc)
	}
	if len(spc) != 5 || spc["displayName"] != "d" || spc["expires"] != "7776000s" || spc["requireDpop"] != false ||
		spc["scopedRoles"].([]any)[0] != "r" || spc["allowSourceCidrs"].([]any)[0] != "10.0.0.0/8" {
		t.Errorf("service-principal credential body %v", spc)
	}

	// With a real secret, both answers read; fields spelt either way.
	_, secret := testKey(t)
	srv.mux.HandleFunc("POST /api/v1/service_principals/good/credentials", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"credential": map[string]any{"id": "c2", "clientId": "n@h.example/spc",
			"scopedRoleIds": []string{"r"}, "allowSourceCidrs": []string{"10.0.0.0/8"}, "expiresAt": "2026-01-01T00:00:00Z",
			"clientSecret": secret}})
	})
	cred, got, err := c.CreateRootCredential(ctx, RootScope{ServicePrincipalID: "good"}, RootCredentialSpec{Expires: day})
	if err != nil || got != secret || cred.ServicePrincipalID != "good" || cred.ScopedRoles[0] != "r" ||
		cred.AllowSourceCIDRs[0] != "10.0.0.0/8" || !cred.ExpiresTime.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("create %+v %v", cred, err)
	}

	list, err := c.ListRootCredentials(ctx, personal)
	if err != nil || len(list) != 1 || list[0].ID != "a" || srv.count("GET /api/v1/iam/personal_clients") != 2 {
		t.Fatalf("list %+v %v", list, err)
	}
	if _, err := c.ListRootCredentials(ctx, RootScope{ServicePrincipalID: "loop"}); err == nil ||
		srv.count("GET /api/v1/service_principals/loop/credentials") != 2 {
		t.Fatalf("a repeated page token: %v", err)
	}
	if err := c.DeleteRootCredential(ctx, personal, "x"); err != nil {
		t.Fatal(err)
	}
}
