package upstreamsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	pcPath = "/api/v1/iam/personal_clients"
	spID   = "sp-robots"
	spcID  = "robot-1@tenant.conductor.one/spc"
)

func spPath(sp string) string { return "/api/v1/service_principals/" + sp + "/credentials" }

// jsonReq is a JSON request with a bearer token.
func (e *env) jsonReq(method, path, tok, body string) resp {
	e.t.Helper()
	h := bearer(tok)
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	return e.do(method, path, h, body)
}

func list(t *testing.T, r resp) []map[string]any {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	raw, _ := r.body["list"].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i] = v.(map[string]any)
	}
	return out
}

func ids(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it["id"].(string)
	}
	return out
}

func TestRegisteredClientIsAPersonalClient(t *testing.T) {
	e, secret := setupClient(t, Options{})
	st, ok := e.s.RootCredential(clientID)
	if !ok || st.Kind != RootPersonalClient || st.UserID != DefaultUserID || st.ID == "" || !st.ExpiresTime.IsZero() ||
		!st.Live || st.Deleted || !st.LastUsedAt.IsZero() || st.DisplayName != "vault-plugin" || st.Secret != secret {
		t.Fatalf("state %+v", st)
	}
	if byID, _ := e.s.RootCredential(st.ID); byID.ClientID != clientID {
		t.Fatalf("by id: %+v", byID)
	}
	e.s.Advance(time.Minute)
	e.token(clientID, secret)
	if st, _ := e.s.RootCredential(clientID); !st.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("lastUsedAt %v", st.LastUsedAt)
	}
	// A client id is registered once, whatever its kind.
	if _, err := e.s.RegisterPersonalClient(clientID, RootOptions{}); err == nil {
		t.Fatal("duplicate client id accepted")
	}
	e.s.AddServicePrincipal(spID)
	if _, err := e.s.RegisterServicePrincipalCredential(spID, clientID, RootOptions{}); err == nil {
		t.Fatal("duplicate client id accepted for a service principal")
	}
}

func TestRootExpiryAndOutOfBandDelete(t *testing.T) {
	e := newEnv(t, Options{})
	st, err := e.s.RegisterPersonalClient("short@tenant.conductor.one/pcc", RootOptions{ExpiresIn: time.Hour, UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.ExpiresTime.Equal(t0.Add(time.Hour)) || st.UserID != "u1" {
		t.Fatalf("state %+v", st)
	}
	tok := e.token(st.ClientID, st.Secret)
	wantStatus(t, e.jsonReq(http.MethodGet, pcPath, tok, ""), http.StatusOK)
	e.s.Advance(time.Hour)
	// Expired: the login is refused, and so is the token it had.
	r := e.form(secretForm(st.ClientID, st.Secret), nil)
	if r.status != http.StatusUnauthorized || r.body["error"] != "invalid_client" {
		t.Fatalf("login after expiry: %d %s", r.status, r.raw)
	}
	wantStatus(t, e.jsonReq(http.MethodGet, pcPath, tok, ""), http.StatusUnauthorized)
	if e.s.ValidCredential(st.ClientID, st.Secret) {
		t.Fatal("expired credential valid")
	}
	if got, _ := e.s.RootCredential(st.ID); got.Live || got.Deleted {
		t.Fatalf("expired state %+v", got)
	}

	// Deleted out of band: the same, and the first deletion time stays.
	other, _ := e.s.RegisterPersonalClient("other@tenant.conductor.one/pcc", RootOptions{})
	otherTok := e.token(other.ClientID, other.Secret)
	del, ok := e.s.DeleteRootOutOfBand(other.ClientID)
	if !ok || !del.Deleted || !del.DeletedAt.Equal(t0.Add(time.Hour)) || del.Live {
		t.Fatalf("delete %+v", del)
	}
	e.s.Advance(time.Minute)
	if again, _ := e.s.DeleteRootOutOfBand(other.ID); !again.DeletedAt.Equal(del.DeletedAt) {
		t.Fatalf("second delete moved deleted_at: %v", again.DeletedAt)
	}
	if _, ok := e.s.DeleteRootOutOfBand("nope"); ok {
		t.Fatal("unknown credential deleted")
	}
	wantStatus(t, e.form(secretForm(other.ClientID, other.Secret), nil), http.StatusUnauthorized)
	wantStatus(t, e.jsonReq(http.MethodGet, pcPath, otherTok, ""), http.StatusUnauthorized)
	if e.s.ValidCredential(other.ClientID, other.Secret) {
		t.Fatal("deleted credential valid")
	}
	if n := len(e.s.RootCredentials()); n != 2 {
		t.Fatalf("%d root credentials", n)
	}
}

func TestRootRegistrationChecks(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddServicePrincipal(spID)
	for name, f := range map[string]func() error{
		"empty client id": func() error { _, err := e.s.RegisterPersonalClient("", RootOptions{}); return err },
		"negative ttl": func() error {
			_, err := e.s.RegisterPersonalClient("a@h/pcc", RootOptions{ExpiresIn: -time.Second})
			return err
		},
		"both expiries": func() error {
			_, err := e.s.RegisterPersonalClient("a@h/pcc", RootOptions{ExpiresIn: time.Hour, ExpiresTime: t0})
			return err
		},
		"bad cidr": func() error {
			_, err := e.s.RegisterPersonalClient("a@h/pcc", RootOptions{AllowSourceCIDRs: []string{"10.0.0.0"}})
			return err
		},
		"empty role": func() error {
			_, err := e.s.RegisterPersonalClient("a@h/pcc", RootOptions{ScopedRoles: []string{""}})
			return err
		},
		"unknown service principal": func() error {
			_, err := e.s.RegisterServicePrincipalCredential("ghost", "a@h/spc", RootOptions{})
			return err
		},
		"user on a service principal": func() error {
			_, err := e.s.RegisterServicePrincipalCredential(spID, "a@h/spc", RootOptions{UserID: "u"})
			return err
		},
		"over 180 days": func() error {
			_, err := e.s.RegisterServicePrincipalCredential(spID, "a@h/spc", RootOptions{ExpiresIn: 181 * 24 * time.Hour})
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := len(e.s.RootCredentials()); n != 0 {
		t.Fatalf("%d credentials left by refused registrations", n)
	}
	st, err := e.s.RegisterServicePrincipalCredential(spID, spcID, RootOptions{ScopedRoles: []string{"role-a"}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != RootServicePrincipalCredential || st.ServicePrincipalID != spID || st.UserID != "" ||
		!st.ExpiresTime.Equal(t0.Add(MaxServicePrincipalCredentialLifetime)) || st.ScopedRoles[0] != "role-a" {
		t.Fatalf("state %+v", st)
	}
	past, err := e.s.RegisterPersonalClient("past@h/pcc", RootOptions{ExpiresTime: t0.Add(-time.Second)})
	if err != nil || past.Live {
		t.Fatalf("already expired registration: %+v %v", past, err)
	}
}

// A root credential registered as created in the past has lived part of
// its lifetime: ExpiresIn counts from its creation, which the API and the
// control API show.
func TestRootCreatedInThePast(t *testing.T) {
	e := newEnv(t, Options{Admin: true})
	created := t0.Add(-7 * time.Minute)
	st, err := e.s.RegisterPersonalClient("old@tenant.conductor.one/pcc", RootOptions{CreatedAt: created, ExpiresIn: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !st.CreatedAt.Equal(created) || !st.UpdatedAt.Equal(created) || !st.ExpiresTime.Equal(t0.Add(3*time.Minute)) || !st.Live {
		t.Fatalf("state %+v", st)
	}
	tok := e.token(st.ClientID, st.Secret)
	g := e.jsonReq(http.MethodGet, pcPath+"/"+st.ID, tok, "")
	wantStatus(t, g, http.StatusOK)
	if pc := sub(g.body, "personalClient"); pc["createdAt"] != "2026-03-01T11:53:00Z" || pc["expiresTime"] != "2026-03-01T12:03:00Z" {
		t.Fatalf("get %s", g.raw)
	}
	// A credential created after it, through the API, lists after it.
	cr := e.jsonReq(http.MethodPost, pcPath, tok, `{"expires":"600s"}`)
	wantStatus(t, cr, http.StatusOK)
	if got := ids(list(t, e.jsonReq(http.MethodGet, pcPath, tok, ""))); len(got) != 2 || got[0] != st.ID {
		t.Fatalf("list %v", got)
	}
	e.s.Advance(3 * time.Minute)
	if e.s.ValidCredential(st.ClientID, st.Secret) {
		t.Fatal("valid past its lifetime, counted from its creation")
	}

	// An absolute expiry with a creation time; a service principal's
	// credential lives at most 180 days from its creation.
	e.s.AddServicePrincipal(spID)
	longAgo := t0.Add(-179 * 24 * time.Hour)
	sp, err := e.s.RegisterServicePrincipalCredential(spID, spcID, RootOptions{CreatedAt: longAgo})
	if err != nil || !sp.CreatedAt.Equal(longAgo) || !sp.ExpiresTime.Equal(longAgo.Add(MaxServicePrincipalCredentialLifetime)) || !sp.Live {
		t.Fatalf("sp credential %+v %v", sp, err)
	}
	at, err := e.s.RegisterPersonalClient("at@h/pcc", RootOptions{CreatedAt: created, ExpiresTime: t0.Add(time.Hour)})
	if err != nil || !at.CreatedAt.Equal(created) || !at.ExpiresTime.Equal(t0.Add(time.Hour)) {
		t.Fatalf("absolute expiry %+v %v", at, err)
	}
	for name, o := range map[string]RootOptions{
		"created in the future":  {CreatedAt: e.s.Now().Add(time.Second)},
		"expires before created": {CreatedAt: created, ExpiresTime: created.Add(-time.Second)},
	} {
		if _, err := e.s.RegisterPersonalClient("refused@h/pcc", o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := e.s.RegisterServicePrincipalCredential(spID, "over@h/spc",
		RootOptions{CreatedAt: longAgo, ExpiresIn: MaxServicePrincipalCredentialLifetime + time.Second}); err == nil {
		t.Error("a service-principal credential living over 180 days from its creation: accepted")
	}

	// The control API takes created_at.
	post := func(body string, status int) resp {
		t.Helper()
		r := e.do(http.MethodPost, "/_sim/c1/clients", map[string]string{"Content-Type": "application/json"}, body)
		wantStatus(t, r, status)
		return r
	}
	r := post(`{"client_id":"admin@h/pcc","created_at":"2026-03-01T11:56:00Z","expires_in":"10m"}`, 200)
	if r.body["created_at"] != "2026-03-01T11:56:00Z" || r.body["expires_time"] != "2026-03-01T12:06:00Z" || r.body["live"] != true {
		t.Fatalf("register %s", r.raw)
	}
	post(`{"client_id":"x@h/pcc","created_at":"yesterday"}`, 400)
	post(`{"client_id":"x@h/pcc","created_at":"2026-03-01T13:00:00Z"}`, 400)
	if _, ok := e.s.RootCredential("x@h/pcc"); ok {
		t.Fatal("a refused registration was kept")
	}
}

func TestRootAllowedSourceNetworks(t *testing.T) {
	e := newEnv(t, Options{})
	far, _ := e.s.RegisterPersonalClient("far@h/pcc", RootOptions{AllowSourceCIDRs: []string{"10.0.0.0/8", "192.0.2.0/24"}})
	near, _ := e.s.RegisterPersonalClient("near@h/pcc", RootOptions{AllowSourceCIDRs: []string{"10.0.0.0/8", "127.0.0.0/8"}})
	r := e.form(secretForm(far.ClientID, far.Secret), nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.raw, "source address") {
		t.Fatalf("login from outside the allowed networks: %d %s", r.status, r.raw)
	}
	if st, _ := e.s.RootCredential(far.ID); !st.LastUsedAt.IsZero() {
		t.Fatal("a refused login moved lastUsedAt")
	}
	wantStatus(t, e.form(secretForm(near.ClientID, near.Secret), nil), http.StatusOK)
}

var pcClientIDRE = regexp.MustCompile(`^[a-z]+-[a-z]+-[0-9]{5}@127\.0\.0\.1:[0-9]+/pcc$`)

func TestPersonalClientAPI(t *testing.T) {
	e, secret := setupClient(t, Options{})
	tok := e.token(clientID, secret)
	root, _ := e.s.RootCredential(clientID)
	// Another user's client never shows.
	stranger, _ := e.s.RegisterPersonalClient("stranger@tenant.conductor.one/pcc", RootOptions{UserID: "someone-else"})

	e.s.Advance(time.Minute)
	cr := e.jsonReq(http.MethodPost, pcPath, tok,
		`{"displayName":"next","expires":"7776000s","scopedRoles":["role-1"],"allowSourceCidr":["127.0.0.0/8"]}`)
	wantStatus(t, cr, http.StatusOK)
	pc := sub(cr.body, "personalClient")
	newSecret, _ := cr.body["clientSecret"].(string)
	if !strings.HasPrefix(newSecret, clientSecretPrefix) || pc["clientSecret"] != nil {
		t.Fatalf("secret placement %s", cr.raw)
	}
	if !pcClientIDRE.MatchString(pc["clientId"].(string)) || pc["displayName"] != "next" || pc["userId"] != DefaultUserID ||
		pc["createdAt"] != "2026-03-01T12:01:00Z" || pc["updatedAt"] != "2026-03-01T12:01:00Z" ||
		pc["expiresTime"] != "2026-05-30T12:01:00Z" || pc["lastUsedAt"] != nil || pc["deletedAt"] != nil {
		t.Fatalf("personal client %v", pc)
	}
	if roles, _ := pc["scopedRoles"].([]any); len(roles) != 1 || roles[0] != "role-1" {
		t.Fatalf("scopedRoles %v", pc["scopedRoles"])
	}
	if cidrs, _ := pc["allowSourceCidr"].([]any); len(cidrs) != 1 || cidrs[0] != "127.0.0.0/8" {
		t.Fatalf("allowSourceCidr %v", pc["allowSourceCidr"])
	}
	newID, newClientID := pc["id"].(string), pc["clientId"].(string)

	// The new client logs in with the SDK's assertion flow, and can itself
	// manage its user's clients.
	e.s.Advance(time.Minute)
	newTok := e.token(newClientID, newSecret)
	if got := list(t, e.jsonReq(http.MethodGet, pcPath, newTok, "")); len(got) != 2 || got[0]["id"] != root.ID || got[1]["id"] != newID {
		t.Fatalf("list %v (stranger %s)", got, stranger.ID)
	}
	g := e.jsonReq(http.MethodGet, pcPath+"/"+newID, tok, "")
	wantStatus(t, g, http.StatusOK)
	if got := sub(g.body, "personalClient"); got["lastUsedAt"] != "2026-03-01T12:02:00Z" || strings.Contains(g.raw, "secret-token") {
		t.Fatalf("get %s", g.raw)
	}
	wantStatus(t, e.jsonReq(http.MethodGet, pcPath+"/"+stranger.ID, tok, ""), http.StatusNotFound)
	wantStatus(t, e.jsonReq(http.MethodDelete, pcPath+"/"+stranger.ID, tok, "{}"), http.StatusNotFound)
	wantStatus(t, e.jsonReq(http.MethodGet, pcPath+"/nope", tok, ""), http.StatusNotFound)

	// The new client deletes the old one: it stops working at once.
	e.s.Advance(time.Minute)
	d := e.jsonReq(http.MethodDelete, pcPath+"/"+root.ID, newTok, "{}")
	wantStatus(t, d, http.StatusOK)
	if d.raw != "{}" {
		t.Fatalf("delete answer %s", d.raw)
	}
	wantStatus(t, e.jsonReq(http.MethodGet, pcPath, tok, ""), http.StatusUnauthorized)
	wantStatus(t, e.form(secretForm(clientID, secret), nil), http.StatusUnauthorized)
	g = e.jsonReq(http.MethodGet, pcPath+"/"+root.ID, newTok, "")
	wantStatus(t, g, http.StatusOK)
	if got := sub(g.body, "personalClient"); got["deletedAt"] != "2026-03-01T12:03:00Z" || got["updatedAt"] != "2026-03-01T12:03:00Z" {
		t.Fatalf("deleted get %s", g.raw)
	}
	e.s.SetHideDeleted(true)
	wantStatus(t, e.jsonReq(http.MethodGet, pcPath+"/"+root.ID, newTok, ""), http.StatusNotFound)
	wantStatus(t, e.jsonReq(http.MethodDelete, pcPath+"/"+root.ID, newTok, "{}"), http.StatusNotFound)
	if got := list(t, e.jsonReq(http.MethodGet, pcPath, newTok, "")); len(got) != 1 || got[0]["id"] != newID {
		t.Fatalf("list after delete %v", got)
	}
	// A body-less delete is accepted too; then the list is empty ({}).
	wantStatus(t, e.jsonReq(http.MethodDelete, pcPath+"/"+newID, newTok, ""), http.StatusOK)
	e.s.AddBearerToken("static")
	if l := e.jsonReq(http.MethodGet, pcPath, "static", ""); l.raw != "{}" {
		t.Fatalf("empty list %d %s", l.status, l.raw)
	}
	if st, _ := e.s.RootCredential(newClientID); !st.Deleted || st.Live {
		t.Fatalf("state %+v", st)
	}
	if e.s.Calls(OpPersonalClientCreate) != 1 || e.s.Calls(OpPersonalClientList) != 4 || e.s.Calls(OpPersonalClientGet) != 5 ||
		e.s.Calls(OpPersonalClientDelete) != 4 {
		t.Fatalf("calls create=%d list=%d get=%d delete=%d", e.s.Calls(OpPersonalClientCreate), e.s.Calls(OpPersonalClientList),
			e.s.Calls(OpPersonalClientGet), e.s.Calls(OpPersonalClientDelete))
	}
}

func TestPersonalClientCreateChecks(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("tok")
	for body, want := range map[string]int{
		``:                                         400,
		`[]`:                                       400,
		`{"displayName":"x"`:                       400,
		`{"allowSourceCidrs":["10.0.0.0/8"]}`:      400, // the service-principal spelling
		`{"DisplayName":"x"}`:                      400, // keys match exactly
		`{"requireDpop":false}`:                    400,
		`{"expires":"90d"}`:                        400,
		`{"expires":7776000}`:                      400,
		`{"expires":"-5s"}`:                        400,
		`{"expires":"99999999999999999999s"}`:      400,
		`{"scopedRoles":"role"}`:                   400,
		`{"scopedRoles":[""]}`:                     400,
		`{"allowSourceCidr":["10.0.0.300/8"]}`:     400,
		`{}`:                                       200,
		`{"displayName":null,"expires":null}`:      200,
		`{"expires":"0s"}`:                         200,
		`{"expires":"1.5s","scopedRoles":[]}`:      200,
		`{"displayName":"d","allowSourceCidr":[]}`: 200,
	} {
		r := e.jsonReq(http.MethodPost, pcPath, "tok", body)
		if r.status != want {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
		if want == 400 && r.body["code"] != float64(grpcInvalidArgument) {
			t.Errorf("%s: body %s", body, r.raw)
		}
	}
	var noExpiry, short int
	for _, c := range e.s.RootCredentials() {
		switch {
		case c.ExpiresTime.IsZero():
			noExpiry++
		case c.ExpiresTime.Equal(t0.Add(1500 * time.Millisecond)):
			short++
		}
		if c.UserID != DefaultUserID || c.DisplayName == "" {
			t.Errorf("created %+v", c)
		}
	}
	if noExpiry != 4 || short != 1 {
		t.Fatalf("%d without expiry, %d of 1.5s", noExpiry, short)
	}
	wantStatus(t, e.jsonReq(http.MethodPut, pcPath, "tok", "{}"), http.StatusMethodNotAllowed)
	wantStatus(t, e.jsonReq(http.MethodPost, pcPath+"/x", "tok", "{}"), http.StatusMethodNotAllowed)
	wantStatus(t, e.jsonReq(http.MethodDelete, pcPath+"/x", "tok", `{"id":"x"}`), http.StatusBadRequest)
}

func TestServicePrincipalCredentialAPI(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddServicePrincipal(spID)
	e.s.AddServicePrincipal("sp-other")
	root, err := e.s.RegisterServicePrincipalCredential(spID, spcID, RootOptions{ExpiresIn: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	otherSP, _ := e.s.RegisterServicePrincipalCredential("sp-other", "other@tenant.conductor.one/spc", RootOptions{})
	tok := e.token(spcID, root.Secret)

	cr := e.jsonReq(http.MethodPost, spPath(spID), tok,
		`{"displayName":"next","expires":"15552000s","scopedRoles":["r1"],"allowSourceCidrs":["127.0.0.1/32"],"requireDpop":false}`)
	wantStatus(t, cr, http.StatusOK)
	c := sub(cr.body, "credential")
	newSecret, _ := cr.body["clientSecret"].(string)
	if !strings.HasPrefix(newSecret, clientSecretPrefix) || c["clientSecret"] != nil {
		t.Fatalf("secret placement %s", cr.raw)
	}
	if !strings.HasSuffix(c["clientId"].(string), "/spc") || c["servicePrincipalId"] != spID || c["displayName"] != "next" ||
		c["expiresAt"] != "2026-08-28T12:00:00Z" || c["createdAt"] != "2026-03-01T12:00:00Z" || c["userId"] != nil {
		t.Fatalf("credential %v", c)
	}
	if roles, _ := c["scopedRoleIds"].([]any); len(roles) != 1 || roles[0] != "r1" {
		t.Fatalf("scopedRoleIds %v", c["scopedRoleIds"])
	}
	if cidrs, _ := c["allowSourceCidrs"].([]any); len(cidrs) != 1 || cidrs[0] != "127.0.0.1/32" {
		t.Fatalf("allowSourceCidrs %v", c["allowSourceCidrs"])
	}
	newID, newClientID := c["id"].(string), c["clientId"].(string)
	newTok := e.token(newClientID, newSecret)

	for body, want := range map[string]int{
		`{"displayName":"x"}`:                            400, // expires is required
		`{"expires":"0s"}`:                               400,
		`{"expires":"15552001s"}`:                        400, // over 180 days
		`{"expires":"60s","requireDpop":true}`:           400,
		`{"expires":"60s","allowSourceCidr":[]}`:         400, // the personal-client spelling
		`{"expires":"60s","requireDpop":"no"}`:           400,
		`{"expires":"60s","allowSourceCidrs":["bogus"]}`: 400,
	} {
		if r := e.jsonReq(http.MethodPost, spPath(spID), tok, body); r.status != want {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}

	// Who may call.
	e.s.AddBearerToken("admin")
	pcSt, _ := e.s.RegisterPersonalClient("admin@tenant.conductor.one/pcc", RootOptions{})
	pcTok := e.token(pcSt.ClientID, pcSt.Secret)
	otherTok := e.token(otherSP.ClientID, otherSP.Secret)
	wantStatus(t, e.jsonReq(http.MethodGet, spPath(spID), "admin", ""), http.StatusOK)
	wantStatus(t, e.jsonReq(http.MethodGet, spPath(spID), pcTok, ""), http.StatusOK)
	wantStatus(t, e.jsonReq(http.MethodGet, spPath(spID), otherTok, ""), http.StatusForbidden)
	wantStatus(t, e.jsonReq(http.MethodPost, spPath(spID), otherTok, `{"expires":"60s"}`), http.StatusForbidden)
	wantStatus(t, e.jsonReq(http.MethodGet, spPath("sp-ghost"), "admin", ""), http.StatusNotFound)
	wantStatus(t, e.jsonReq(http.MethodGet, pcPath, tok, ""), http.StatusForbidden)
	wantStatus(t, e.jsonReq(http.MethodPost, pcPath, tok, "{}"), http.StatusForbidden)
	// Another service principal's credential is not found under this one.
	wantStatus(t, e.jsonReq(http.MethodGet, spPath(spID)+"/"+otherSP.ID, "admin", ""), http.StatusNotFound)

	if got := ids(list(t, e.jsonReq(http.MethodGet, spPath(spID), newTok, ""))); len(got) != 2 || got[0] != root.ID || got[1] != newID {
		t.Fatalf("list %v", got)
	}
	g := e.jsonReq(http.MethodGet, spPath(spID)+"/"+root.ID, newTok, "")
	wantStatus(t, g, http.StatusOK)
	if got := sub(g.body, "credential"); got["lastUsedAt"] != "2026-03-01T12:00:00Z" || got["expiresAt"] != "2026-03-02T12:00:00Z" {
		t.Fatalf("get %s", g.raw)
	}
	wantStatus(t, e.jsonReq(http.MethodDelete, spPath(spID)+"/"+root.ID, newTok, "{}"), http.StatusOK)
	wantStatus(t, e.jsonReq(http.MethodGet, spPath(spID)+"/"+root.ID, newTok, ""), http.StatusNotFound) // no deletedAt field
	wantStatus(t, e.jsonReq(http.MethodDelete, spPath(spID)+"/"+root.ID, newTok, "{}"), http.StatusNotFound)
	wantStatus(t, e.form(secretForm(spcID, root.Secret), nil), http.StatusUnauthorized)
	wantStatus(t, e.jsonReq(http.MethodGet, spPath(spID), tok, ""), http.StatusUnauthorized)
	if got := ids(list(t, e.jsonReq(http.MethodGet, spPath(spID), newTok, ""))); len(got) != 1 || got[0] != newID {
		t.Fatalf("list after delete %v", got)
	}
	// The new credential expires with the clock like any other.
	e.s.Advance(MaxServicePrincipalCredentialLifetime)
	wantStatus(t, e.form(secretForm(newClientID, newSecret), nil), http.StatusUnauthorized)
	if e.s.Calls(OpSPCredentialCreate) != 9 || e.s.Calls(OpSPCredentialDelete) != 2 || e.s.Calls(OpSPCredentialGet) != 3 {
		t.Fatalf("calls create=%d delete=%d get=%d", e.s.Calls(OpSPCredentialCreate), e.s.Calls(OpSPCredentialDelete),
			e.s.Calls(OpSPCredentialGet))
	}
}

func TestRootAPIAuth(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddServicePrincipal(spID)
	e.s.AddBearerToken("tok")
	e.s.AddConnector("a", "c")
	rot := e.rotate("tok", "a", "c")
	wantStatus(t, rot, http.StatusOK)
	cred := sub(rot.body, "credential")
	connTok := e.token(cred["clientId"].(string), cred["clientSecret"].(string))
	reqs := []struct{ method, path, body string }{
		{http.MethodGet, pcPath, ""},
		{http.MethodPost, pcPath, "{}"},
		{http.MethodGet, pcPath + "/x", ""},
		{http.MethodDelete, pcPath + "/x", "{}"},
		{http.MethodGet, spPath(spID), ""},
		{http.MethodPost, spPath(spID), `{"expires":"60s"}`},
		{http.MethodGet, spPath(spID) + "/x", ""},
		{http.MethodDelete, spPath(spID) + "/x", "{}"},
	}
	for _, q := range reqs {
		for tok, want := range map[string]int{"": 401, "nope": 401, connTok: 403} {
			if r := e.jsonReq(q.method, q.path, tok, q.body); r.status != want {
				t.Errorf("%s %s with %q: %d %s", q.method, q.path, tok, r.status, r.raw)
			}
		}
	}
	if n := len(e.s.RootCredentials()); n != 0 {
		t.Fatalf("%d created", n)
	}
}

func TestRootListPages(t *testing.T) {
	e := newEnv(t, Options{PageSize: 2})
	e.s.AddBearerToken("tok")
	var want []string
	for range 5 {
		r := e.jsonReq(http.MethodPost, pcPath, "tok", "{}")
		wantStatus(t, r, http.StatusOK)
		want = append(want, sub(r.body, "personalClient")["id"].(string))
	}
	page := func(q url.Values) ([]string, string) {
		t.Helper()
		r := e.jsonReq(http.MethodGet, pcPath+"?"+q.Encode(), "tok", "")
		next, _ := r.body["nextPageToken"].(string)
		return ids(list(t, r)), next
	}
	var got []string
	q := url.Values{"page_size": {"100"}} // capped at the server's size
	pages := 0
	for {
		items, next := page(q)
		pages++
		if len(items) > 2 {
			t.Fatalf("page of %d", len(items))
		}
		got = append(got, items...)
		if next == "" {
			break
		}
		q.Set("page_token", next)
		if pages == 1 {
			// A deletion between pages skips nothing that remains.
			wantStatus(t, e.jsonReq(http.MethodDelete, pcPath+"/"+want[0], "tok", "{}"), http.StatusOK)
		}
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d pages %v, want %v", pages, got, want)
	}
	if items, next := page(url.Values{"page_size": {"1"}}); len(items) != 1 || items[0] != want[1] || next == "" {
		t.Fatalf("page_size 1: %v %q", items, next)
	}
	for _, bad := range []url.Values{{"page_size": {"-1"}}, {"page_size": {"x"}}, {"page_token": {"garbage"}}} {
		wantStatus(t, e.jsonReq(http.MethodGet, pcPath+"?"+bad.Encode(), "tok", ""), http.StatusBadRequest)
	}
	e.s.SetPageSize(0)
	if items, next := page(nil); len(items) != 4 || next != "" {
		t.Fatalf("default page size: %v %q", items, next)
	}
}

func TestRootFaults(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("tok")
	e.s.AddServicePrincipal(spID)

	// Commit: created, then the answer is lost.
	e.s.InjectFault(Fault{Op: OpPersonalClientCreate, Status: 502, Commit: true, Count: 1})
	r := e.jsonReq(http.MethodPost, pcPath, "tok", "{}")
	if r.status != 502 || strings.Contains(r.raw, "secret-token") || r.body["code"] != float64(grpcUnavailable) {
		t.Fatalf("committed fault answer %d %s", r.status, r.raw)
	}
	if n := len(e.s.RootCredentials()); n != 1 {
		t.Fatalf("%d created under a commit fault", n)
	}
	// Without commit: nothing is created.
	e.s.InjectFault(Fault{Op: OpSPCredentialCreate, Status: 500, Count: 1})
	wantStatus(t, e.jsonReq(http.MethodPost, spPath(spID), "tok", `{"expires":"60s"}`), 500)
	if n := len(e.s.RootCredentials()); n != 1 {
		t.Fatalf("%d created under a plain fault", n)
	}
	// Malformed answers in each shape.
	for _, op := range []string{OpPersonalClientCreate, OpPersonalClientList, OpSPCredentialGet} {
		e.s.InjectFault(Fault{Op: op, Malformed: true, Count: 1})
	}
	if r := e.jsonReq(http.MethodPost, pcPath, "tok", "{}"); r.raw != `{"personalClient":{"id":"` || r.status != 200 {
		t.Fatalf("malformed create %d %s", r.status, r.raw)
	}
	if r := e.jsonReq(http.MethodGet, pcPath, "tok", ""); r.raw != `{"list":[{"id":"` {
		t.Fatalf("malformed list %s", r.raw)
	}
	if r := e.jsonReq(http.MethodGet, spPath(spID)+"/x", "tok", ""); r.raw != `{"credential":{"id":"` {
		t.Fatalf("malformed get %s", r.raw)
	}
	// A committed delete deletes.
	id := e.s.RootCredentials()[0].ID
	e.s.InjectFault(Fault{Op: OpPersonalClientDelete, Status: 504, Commit: true, Count: 1})
	wantStatus(t, e.jsonReq(http.MethodDelete, pcPath+"/"+id, "tok", "{}"), 504)
	if st, _ := e.s.RootCredential(id); !st.Deleted {
		t.Fatal("committed delete did not delete")
	}
	// OpAny reaches the new operations too.
	e.s.InjectFault(Fault{Op: OpAny, Status: 503, Count: 1})
	wantStatus(t, e.jsonReq(http.MethodGet, spPath(spID), "tok", ""), 503)
	if e.s.Calls(OpSPCredentialList) != 1 || e.s.Calls(OpPersonalClientCreate) != 2 || e.s.Calls(OpSPCredentialCreate) != 1 {
		t.Fatalf("calls %v", e.s.allCalls())
	}
}

func TestParseProtoDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0s": 0, "7776000s": 90 * 24 * time.Hour, "1.5s": 1500 * time.Millisecond, "0.000000001s": 1,
		"15552000s": MaxServicePrincipalCredentialLifetime,
	} {
		if got, err := parseProtoDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "s", "5", "5m", "-5s", "1.0000000001s", " 5s", "9223372036s", "1e3s", "+5s"} {
		if _, err := parseProtoDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestRootAdminRoutes(t *testing.T) {
	e := newEnv(t, Options{Admin: true})
	post := func(method, path, body string, status int) resp {
		t.Helper()
		r := e.do(method, path, map[string]string{"Content-Type": "application/json"}, body)
		wantStatus(t, r, status)
		return r
	}
	r := post("POST", "/_sim/c1/clients", `{"client_id":"pc@tenant.conductor.one/pcc","user_id":"u7","display_name":"engine",
		"expires_in":"90m","scoped_roles":["r"],"allow_source_cidrs":["127.0.0.0/8"]}`, 200)
	pcSecret, _ := r.body["client_secret"].(string)
	if !strings.HasPrefix(pcSecret, clientSecretPrefix) || r.body["kind"] != "personal_client" || r.body["user_id"] != "u7" ||
		r.body["display_name"] != "engine" || r.body["expires_time"] != "2026-03-01T13:30:00Z" || r.body["live"] != true ||
		r.body["id"] == "" || r.body["client_id"] != "pc@tenant.conductor.one/pcc" {
		t.Fatalf("register %s", r.raw)
	}
	pcID := r.body["id"].(string)
	post("POST", "/_sim/c1/clients", `{"client_id":"pc@tenant.conductor.one/pcc"}`, 409)
	post("POST", "/_sim/c1/clients", `{"client_id":"x@h/pcc","expires_in":"soon"}`, 400)
	post("POST", "/_sim/c1/clients", `{"client_id":"x@h/pcc","expires_time":"tomorrow"}`, 400)
	post("POST", "/_sim/c1/clients", `{"client_id":"x@h/pcc","allow_source_cidrs":["nope"]}`, 400)
	post("POST", "/_sim/c1/clients", `{"client_id":"x@h/pcc","service_principal_id":"sp"}`, 400)

	post("POST", "/_sim/c1/service-principals", `{}`, 400)
	post("POST", "/_sim/c1/service-principals", `{"id":"`+spID+`"}`, 200)
	post("POST", "/_sim/c1/service-principal-credentials", `{"service_principal_id":"ghost","client_id":"a@h/spc"}`, 400)
	post("POST", "/_sim/c1/service-principal-credentials", `{"client_id":"a@h/spc"}`, 400)
	post("POST", "/_sim/c1/service-principal-credentials", `{"service_principal_id":"`+spID+`","client_id":"a@h/spc","expires_in":"4321h"}`, 400)
	r = post("POST", "/_sim/c1/service-principal-credentials", `{"service_principal_id":"`+spID+`","client_id":"`+spcID+`",
		"expires_time":"2026-03-02T00:00:00Z"}`, 200)
	spSecret, _ := r.body["client_secret"].(string)
	if r.body["kind"] != "service_principal_credential" || r.body["service_principal_id"] != spID ||
		r.body["expires_time"] != "2026-03-02T00:00:00Z" || r.body["user_id"] != nil || spSecret == "" {
		t.Fatalf("register sp credential %s", r.raw)
	}
	post("POST", "/_sim/c1/service-principal-credentials", `{"service_principal_id":"`+spID+`","client_id":"`+spcID+`"}`, 409)

	// Both log in; lastUsedAt shows.
	post("POST", "/_sim/clock", `{"advance":"1m"}`, 200)
	wantStatus(t, e.form(secretForm(spcID, spSecret), nil), 200)
	wantStatus(t, e.form(secretForm("pc@tenant.conductor.one/pcc", pcSecret), nil), 200)

	l := post("GET", "/_sim/c1/root-credentials", "", 200)
	if strings.Contains(l.raw, "secret-token") {
		t.Fatal("list leaks secrets")
	}
	var all struct {
		Roots []struct {
			Kind, ID, ClientID string
			LastUsedAt         *string `json:"last_used_at"`
		} `json:"root_credentials"`
	}
	_ = json.Unmarshal([]byte(l.raw), &all)
	if len(all.Roots) != 2 || all.Roots[0].ID != pcID || all.Roots[1].Kind != "service_principal_credential" ||
		all.Roots[1].LastUsedAt == nil || *all.Roots[1].LastUsedAt != "2026-03-01T12:01:00Z" {
		t.Fatalf("list %s", l.raw)
	}
	for q, n := range map[string]int{"?kind=personal_client": 1, "?user_id=u7": 1, "?user_id=": 1,
		"?service_principal_id=" + spID: 1, "?kind=service_principal_credential&user_id=u7": 0} {
		l := post("GET", "/_sim/c1/root-credentials"+q, "", 200)
		if got := strings.Count(l.raw, `"kind"`); got != n {
			t.Errorf("%s: %d, want %d: %s", q, got, n, l.raw)
		}
	}
	post("GET", "/_sim/c1/root-credentials?kind=robot", "", 400)

	f := post("GET", "/_sim/c1/root-credentials/find?client_id="+url.QueryEscape(spcID), "", 200)
	if f.body["client_id"] != spcID || f.body["last_used_at"] != "2026-03-01T12:01:00Z" || f.body["deleted"] != false {
		t.Fatalf("find %s", f.raw)
	}
	post("GET", "/_sim/c1/root-credentials/find?id="+pcID, "", 200)
	post("GET", "/_sim/c1/root-credentials/find?id=nope", "", 404)
	post("GET", "/_sim/c1/root-credentials/find", "", 400)
	post("GET", "/_sim/c1/root-credentials/find?id=a&client_id=b", "", 400)

	d := post("POST", "/_sim/c1/root-credentials/delete", `{"id":"`+pcID+`"}`, 200)
	if d.body["deleted"] != true || d.body["deleted_at"] != "2026-03-01T12:01:00Z" || d.body["live"] != false {
		t.Fatalf("delete %s", d.raw)
	}
	post("POST", "/_sim/c1/root-credentials/delete", `{"client_id":"nope@h/pcc"}`, 404)
	post("POST", "/_sim/c1/root-credentials/delete", `{}`, 400)
	if v := post("POST", "/_sim/c1/validate", `{"client_id":"pc@tenant.conductor.one/pcc","client_secret":"`+pcSecret+`"}`, 200); v.body["valid"] != false {
		t.Fatal("deleted root still valid")
	}
	if v := post("POST", "/_sim/c1/validate", `{"client_id":"`+spcID+`","client_secret":"`+spSecret+`"}`, 200); v.body["valid"] != true {
		t.Fatal("live root not valid")
	}

	if p := post("PUT", "/_sim/c1/page-size", `{"page_size":3}`, 200); p.body["page_size"] != float64(3) {
		t.Fatalf("page size %s", p.raw)
	}
	if p := post("PUT", "/_sim/c1/page-size", `{"page_size":0}`, 200); p.body["page_size"] != float64(DefaultPageSize) {
		t.Fatalf("page size %s", p.raw)
	}
	post("PUT", "/_sim/c1/page-size", `{"page_size":-1}`, 400)
	post("PUT", "/_sim/c1/page-size", `{}`, 400)

	post("POST", "/_sim/faults", `{"op":"sp_credential_create","status":500,"commit":true}`, 200)
	post("POST", "/_sim/faults", `{"op":"personal_client_list","status":500}`, 200)
	if r := post("POST", "/_sim/faults", `{"op":"personal_clients","status":500}`, 400); !strings.Contains(r.raw, "personal_client_create") {
		t.Fatalf("op list in error %s", r.raw)
	}
	calls := post("GET", "/_sim/calls", "", 200)
	for _, op := range []string{OpPersonalClientCreate, OpPersonalClientList, OpPersonalClientGet, OpPersonalClientDelete,
		OpSPCredentialCreate, OpSPCredentialList, OpSPCredentialGet, OpSPCredentialDelete} {
		if calls.body[op] != float64(0) {
			t.Errorf("calls lack %s: %s", op, calls.raw)
		}
	}
}
