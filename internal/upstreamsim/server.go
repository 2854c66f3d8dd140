// Package upstreamsim simulates the two upstream SaaS APIs the plugin talks to,
// C1 (ConductorOne) connector credentials and Aitronos personal-connector
// admin credentials, on a single http.Handler. For C1 it also serves the
// credentials the plugin itself logs in with, its root credentials: personal
// clients (/api/v1/iam/personal_clients) and service-principal credentials
// (/api/v1/service_principals/{id}/credentials).
//
// The simulator follows the reference in shared/upstream-api and is meant to be
// exactly as strict as the real services: authentication, status codes, error
// bodies and expiry are enforced, never relaxed. It is test and demo code; the
// plugin never imports it.
//
// All time-dependent behaviour (token and credential expiry, client-assertion
// windows, Aitronos expires_in and rate-limit windows) reads the clock given in
// Options.Now plus any offset added with Advance, so tests never need to sleep.
//
// # Root credentials
//
// Every API client registered with RegisterClient is a personal client of
// DefaultUserID that never expires; RegisterPersonalClient and
// RegisterServicePrincipalCredential register them with an expiry, a creation
// time in the past (a credential made before the test began, part of its
// lifetime gone), a user, scoped roles and allowed source networks. The
// token endpoint refuses (401 invalid_client) a root credential that is
// deleted or expired, or a login from outside its allowed source networks,
// and records lastUsedAt on each login; the API refuses (401) the tokens of a
// deleted or expired one.
//
// Who may call the root-credential API: for personal clients, a personal
// client or a static bearer token, each for its own user (a static token acts
// for DefaultUserID), never a service principal's credential (403); for a
// service principal's credentials, a user (a personal client or a static
// token, as an administrator) or a credential of that same service principal,
// never another one's (403); an unknown service principal is 404. Connector
// credentials may call neither (403). Scoped roles are stored, not enforced.
// Lists leave deleted credentials out and come in pages (page_size, capped at
// Options.PageSize, and page_token). A service-principal credential must
// expire within MaxServicePrincipalCredentialLifetime, and requireDpop is
// refused (400). A created credential's client id is <name>@<host>/pcc for a
// personal client and <name>@<host>/spc for a service-principal credential.
//
// # Control API
//
// With Options.Admin set, the same handler serves a JSON control API under
// /_sim/ so that another process can drive the simulator. Errors are
// {"error": "..."} with status 400, 404, 405 or 409; successes are 200.
//
//	POST   /_sim/c1/clients           {"client_id", optional "user_id","display_name","created_at" (RFC 3339, not in
//	       the future; default now),"expires_in":"90m" (from created_at)|"expires_time" (RFC 3339),"scoped_roles":[],
//	       "allow_source_cidrs":[]} -> a root credential as listed below, with "client_secret": registers a personal
//	       client (409 when the client id is taken)
//	POST   /_sim/c1/service-principals {"id"} -> {"id"}
//	POST   /_sim/c1/service-principal-credentials {"service_principal_id","client_id", optional "display_name",
//	       "created_at","expires_in"|"expires_time" (default and most: 180 days from created_at),"scoped_roles",
//	       "allow_source_cidrs"} -> a root credential with "client_secret"
//	GET    /_sim/c1/root-credentials?kind=personal_client|service_principal_credential&user_id=&service_principal_id=
//	       -> {"root_credentials":[{"kind","id","client_id","display_name","user_id","service_principal_id",
//	       "scoped_roles","allow_source_cidrs","created_at","expires_time","last_used_at","deleted","deleted_at",
//	       "live"}]} (deleted ones included; no secrets; live: neither deleted nor expired now)
//	GET    /_sim/c1/root-credentials/find?id=|client_id= -> one root credential as listed above (404 if unknown)
//	POST   /_sim/c1/root-credentials/delete {"id"} or {"client_id"} -> the root credential as listed above;
//	       deletes it as an administrator would in the C1 UI (a deleted one keeps its deleted_at)
//	PUT    /_sim/c1/page-size         {"page_size":n} (0 = the default, 50) -> {"page_size"}
//	POST   /_sim/c1/bearer-tokens     {"token"} -> {}
//	POST   /_sim/c1/connectors        {"app_id","connector_id"} -> {}
//	PUT    /_sim/c1/credential-ttl    {"ttl":"4m"} ("0s" = no expiry) -> {"ttl"}
//	GET    /_sim/c1/credentials?app_id=&connector_id= -> {"credentials":[{"id","app_id","connector_id",
//	       "client_id","display_name","created_at","expires_time","last_used_at","revoked","revoked_at",
//	       "live"}]} (no secrets; live: neither revoked nor expired now)
//	POST   /_sim/c1/credentials/revoke {"id"} -> the credential as listed above; revokes it as an
//	       administrator would in the C1 UI (404 for an unknown id; a revoked one keeps its revoked_at)
//	PUT    /_sim/c1/deleted-credentials {"answer":"deleted_at"|"not_found"} -> {}: how GetCredentials, and the
//	       read of a personal client, answer for a revoked (deleted) one (default deleted_at: 200 with
//	       deletedAt set); a deleted service-principal credential always reads as 404
//	POST   /_sim/c1/validate          {"client_id","client_secret"} -> {"valid":bool}
//	POST   /_sim/faults               {"op","status","retry_after","body","malformed","latency":"2s","count","commit"} -> {}
//	DELETE /_sim/faults               -> {}
//	GET    /_sim/calls                -> {"token":n,"rotate":n,"get":n,"revoke":n,"aitronos":n,
//	       "personal_client_create":n,...}: every operation below
//	POST   /_sim/aitronos/keys        {"key","state"} (active|expired|deactivated|paused|no_admin; default active) -> {}
//	PUT    /_sim/aitronos/connections Connection fields in snake_case (credential_id, connection_id, status, access_token,
//	       is_redacted, extra_headers, ...), with "expires_at" (RFC 3339) or "expires_in" (seconds from now) -> {}
//	PUT    /_sim/aitronos/rate-limit  {"per_minute":n} (0 = off) -> {}
//	GET    /_sim/clock                -> {"now"}
//	POST   /_sim/clock                {"advance":"10m"} -> {"now"}
//
// # Operations
//
// Calls counts, and Fault.Op (the "op" of /_sim/faults) names, these
// operations: token, rotate, get, revoke, aitronos; personal_client_create,
// personal_client_list, personal_client_get, personal_client_delete;
// sp_credential_create, sp_credential_list, sp_credential_get,
// sp_credential_delete; and "*" (faults only) for all of them. A fault with
// Commit carries the operation out (creates or deletes the credential) and
// then answers the fault instead.
package upstreamsim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Defaults and limits used by the simulator.
const (
	// DefaultCredentialTTL is the lifetime of a rotated C1 credential when
	// Options.CredentialTTL is zero.
	DefaultCredentialTTL = 720 * time.Hour
	// DefaultTokenTTL is the lifetime of an access token issued by the C1
	// token endpoint when Options.TokenTTL is zero.
	DefaultTokenTTL = time.Hour
	// DefaultAitronosRateLimit is the number of Aitronos requests a key may
	// make per minute when Options.AitronosRateLimit is zero.
	DefaultAitronosRateLimit = 100
	// DefaultAitronosDailyLimit is the number of Aitronos requests a key may
	// make per day when Options.AitronosDailyLimit is zero.
	DefaultAitronosDailyLimit = 10000
	// MaxAssertionLifetime is the longest exp-iat (and exp-nbf) window the C1
	// token endpoint accepts in a client assertion.
	MaxAssertionLifetime = 5 * time.Minute
	// AssertionClockSkew is how far in the future a client assertion's iat
	// and nbf may lie and still be accepted.
	AssertionClockSkew = 30 * time.Second

	// NoExpiry, given as Options.CredentialTTL, makes rotated credentials
	// never expire (no expiresTime).
	NoExpiry time.Duration = -1
	// RateLimitOff, given as Options.AitronosRateLimit or
	// Options.AitronosDailyLimit, disables that limit.
	RateLimitOff = -1
)

// Operation names used by Calls and Fault.Op.
const (
	// OpToken is the C1 token endpoint, POST /auth/v1/token.
	OpToken = "token"
	// OpRotate is C1 RotateCredential.
	OpRotate = "rotate"
	// OpGet is C1 GetCredentials.
	OpGet = "get"
	// OpRevoke is C1 RevokeCredential.
	OpRevoke = "revoke"
	// OpAitronos is either Aitronos admin credentials endpoint.
	OpAitronos = "aitronos"

	// OpPersonalClientCreate is POST /api/v1/iam/personal_clients.
	OpPersonalClientCreate = "personal_client_create"
	// OpPersonalClientList is GET /api/v1/iam/personal_clients.
	OpPersonalClientList = "personal_client_list"
	// OpPersonalClientGet is GET /api/v1/iam/personal_clients/{id}.
	OpPersonalClientGet = "personal_client_get"
	// OpPersonalClientDelete is DELETE /api/v1/iam/personal_clients/{id}.
	OpPersonalClientDelete = "personal_client_delete"
	// OpSPCredentialCreate is POST
	// /api/v1/service_principals/{service_principal_id}/credentials.
	OpSPCredentialCreate = "sp_credential_create"
	// OpSPCredentialList is GET
	// /api/v1/service_principals/{service_principal_id}/credentials.
	OpSPCredentialList = "sp_credential_list"
	// OpSPCredentialGet is GET
	// /api/v1/service_principals/{service_principal_id}/credentials/{id}.
	OpSPCredentialGet = "sp_credential_get"
	// OpSPCredentialDelete is DELETE
	// /api/v1/service_principals/{service_principal_id}/credentials/{id}.
	OpSPCredentialDelete = "sp_credential_delete"

	// OpAny, used only as Fault.Op, matches every operation above.
	OpAny = "*"
)

var knownOps = map[string]bool{
	OpToken: true, OpRotate: true, OpGet: true, OpRevoke: true, OpAitronos: true,
	OpPersonalClientCreate: true, OpPersonalClientList: true, OpPersonalClientGet: true, OpPersonalClientDelete: true,
	OpSPCredentialCreate: true, OpSPCredentialList: true, OpSPCredentialGet: true, OpSPCredentialDelete: true,
}

// Options configure a Server. The zero value is usable and selects the
// documented defaults.
type Options struct {
	// Now is the clock; nil means time.Now. It must be safe for concurrent
	// use. Advance adds an offset on top of it.
	Now func() time.Time
	// CredentialTTL is the lifetime of a rotated C1 credential. Zero selects
	// DefaultCredentialTTL (720h); NoExpiry (any negative value) makes
	// credentials that never expire. SetCredentialTTL changes it later, and
	// there zero means no expiry.
	CredentialTTL time.Duration
	// TokenTTL is the lifetime of C1 access tokens; zero or negative selects
	// DefaultTokenTTL (1h).
	TokenTTL time.Duration
	// LegacyRotateShape makes RotateCredential answer in the older shape,
	// with clientSecret at the top level instead of inside credential, and
	// also serves the older path
	// POST /api/v1/apps/{app_id}/connectors/{connector_id}/credentials.
	LegacyRotateShape bool
	// AitronosRateLimit is the number of requests an Aitronos key may make
	// per minute. Zero selects DefaultAitronosRateLimit (100); RateLimitOff
	// (any negative value) turns all Aitronos rate limiting off, including
	// the daily limit and the X-RateLimit-* headers.
	AitronosRateLimit int
	// AitronosDailyLimit is the number of requests an Aitronos key may make
	// per day. Zero selects DefaultAitronosDailyLimit (10,000); RateLimitOff
	// (any negative value) turns only the daily limit off.
	AitronosDailyLimit int
	// PageSize is the most items a list (personal clients,
	// service-principal credentials) answers per page, also when the request
	// asks for more; zero or negative selects DefaultPageSize (50).
	PageSize int
	// Admin serves the control API under /_sim/ (see admin.go). Off by
	// default; cmd/upstream-sim turns it on.
	Admin bool
}

// Server simulates both upstream APIs. Create it with New; it is an
// http.Handler safe for concurrent use.
type Server struct {
	mux *http.ServeMux

	mu     sync.Mutex
	clock  func() time.Time
	offset time.Duration

	tokenTTL   time.Duration
	credTTL    time.Duration // 0 = no expiry
	legacy     bool
	rateLimit  int // 0 = off
	dailyLimit int // 0 = off
	admin      bool

	// C1
	roots        map[string]*rootCred // root credentials (personal clients, service-principal credentials) by id
	rootByClient map[string]*rootCred // root credentials by client id
	rootSeq      int
	sps          map[string]bool // service principals
	pageSize     int
	bearer       map[string]bool         // static bearer tokens
	tokens       map[string]*accessToken // issued access tokens
	// usedAssertions holds the jti (or, without one, the whole assertion)
	// of each client assertion accepted, until the assertion expires.
	usedAssertions map[string]time.Time
	connectors     map[connectorKey]bool
	creds          map[string]*credential // connector credentials by id
	credByClient   map[string]*credential // connector credentials by client id
	credSeq        int
	hideDeleted    bool // GetCredentials answers 404 for revoked credentials

	// Aitronos
	keys       map[string]KeyState
	conns      map[string]*Connection // by connection id
	connByCred map[string]string      // credential id -> connection id
	buckets    map[string]*rateBucket

	calls  map[string]int
	faults []*faultEntry
}

type connectorKey struct{ appID, connectorID string }

// New returns a Server configured by opts.
func New(opts Options) *Server {
	s := &Server{
		clock:          opts.Now,
		tokenTTL:       opts.TokenTTL,
		credTTL:        opts.CredentialTTL,
		legacy:         opts.LegacyRotateShape,
		rateLimit:      opts.AitronosRateLimit,
		dailyLimit:     opts.AitronosDailyLimit,
		admin:          opts.Admin,
		roots:          map[string]*rootCred{},
		rootByClient:   map[string]*rootCred{},
		sps:            map[string]bool{},
		pageSize:       opts.PageSize,
		bearer:         map[string]bool{},
		tokens:         map[string]*accessToken{},
		usedAssertions: map[string]time.Time{},
		connectors:     map[connectorKey]bool{},
		creds:          map[string]*credential{},
		credByClient:   map[string]*credential{},
		keys:           map[string]KeyState{},
		conns:          map[string]*Connection{},
		connByCred:     map[string]string{},
		buckets:        map[string]*rateBucket{},
		calls:          map[string]int{},
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.pageSize <= 0 {
		s.pageSize = DefaultPageSize
	}
	if s.tokenTTL <= 0 {
		s.tokenTTL = DefaultTokenTTL
	}
	switch {
	case s.credTTL == 0:
		s.credTTL = DefaultCredentialTTL
	case s.credTTL < 0:
		s.credTTL = 0
	}
	switch {
	case s.rateLimit == 0:
		s.rateLimit = DefaultAitronosRateLimit
	case s.rateLimit < 0:
		s.rateLimit = 0
	}
	switch {
	case s.dailyLimit == 0:
		s.dailyLimit = DefaultAitronosDailyLimit
	case s.dailyLimit < 0:
		s.dailyLimit = 0
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := http.NewServeMux()
	// C1
	m.HandleFunc("/auth/v1/token", func(w http.ResponseWriter, r *http.Request) {
		s.runOp(OpToken, w, r, s.handleToken)
	})
	m.HandleFunc("/api/v1/apps/connectors/credentials", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowedC1(w, http.MethodPost)
			return
		}
		s.runOp(OpRotate, w, r, s.handleRotate)
	})
	m.HandleFunc("/api/v1/apps/{app_id}/connectors/{connector_id}/credentials", func(w http.ResponseWriter, r *http.Request) {
		if !s.legacy {
			writeC1Error(w, http.StatusNotFound, grpcNotFound, "Not Found")
			return
		}
		if r.Method != http.MethodPost {
			methodNotAllowedC1(w, http.MethodPost)
			return
		}
		s.runOp(OpRotate, w, r, s.handleRotateLegacy)
	})
	m.HandleFunc("/api/v1/apps/{app_id}/connectors/{connector_id}/credentials/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			s.runOp(OpGet, w, r, s.handleGet)
		case http.MethodPost:
			s.runOp(OpRevoke, w, r, s.handleRevoke)
		default:
			methodNotAllowedC1(w, "GET, POST")
		}
	})
	m.HandleFunc("/api/v1/iam/personal_clients", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			s.runOp(OpPersonalClientList, w, r, s.rootHandler(RootPersonalClient, s.handleRootList))
		case http.MethodPost:
			s.runOp(OpPersonalClientCreate, w, r, s.rootHandler(RootPersonalClient, s.handleRootCreate))
		default:
			methodNotAllowedC1(w, "GET, POST")
		}
	})
	m.HandleFunc("/api/v1/iam/personal_clients/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			s.runOp(OpPersonalClientGet, w, r, s.rootHandler(RootPersonalClient, s.handleRootGet))
		case http.MethodDelete:
			s.runOp(OpPersonalClientDelete, w, r, s.rootHandler(RootPersonalClient, s.handleRootDelete))
		default:
			methodNotAllowedC1(w, "GET, DELETE")
		}
	})
	m.HandleFunc("/api/v1/service_principals/{service_principal_id}/credentials", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			s.runOp(OpSPCredentialList, w, r, s.rootHandler(RootServicePrincipalCredential, s.handleRootList))
		case http.MethodPost:
			s.runOp(OpSPCredentialCreate, w, r, s.rootHandler(RootServicePrincipalCredential, s.handleRootCreate))
		default:
			methodNotAllowedC1(w, "GET, POST")
		}
	})
	m.HandleFunc("/api/v1/service_principals/{service_principal_id}/credentials/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			s.runOp(OpSPCredentialGet, w, r, s.rootHandler(RootServicePrincipalCredential, s.handleRootGet))
		case http.MethodDelete:
			s.runOp(OpSPCredentialDelete, w, r, s.rootHandler(RootServicePrincipalCredential, s.handleRootDelete))
		default:
			methodNotAllowedC1(w, "GET, DELETE")
		}
	})
	// Aitronos
	m.HandleFunc("/v1/personal-connectors/admin/credentials/{credential_id}", func(w http.ResponseWriter, r *http.Request) {
		s.runOp(OpAitronos, w, r, s.aitronosHandler(false))
	})
	m.HandleFunc("/v1/personal-connectors/admin/credentials/by-connection/{connection_id}", func(w http.ResponseWriter, r *http.Request) {
		s.runOp(OpAitronos, w, r, s.aitronosHandler(true))
	})
	// Control API
	m.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		if !s.admin {
			writeC1Error(w, http.StatusNotFound, grpcNotFound, "Not Found")
			return
		}
		s.handleAdmin(w, r)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			s.writeAitronosError(w, http.StatusNotFound, errNotFoundPath)
			return
		}
		writeC1Error(w, http.StatusNotFound, grpcNotFound, "Not Found")
	})
	s.mux = m
}

// ServeHTTP serves both upstream APIs, and the control API under /_sim/ when
// Options.Admin is set.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// nowLocked returns the simulated time. The caller must hold s.mu.
func (s *Server) nowLocked() time.Time {
	return s.clock().Add(s.offset).UTC()
}

// Now returns the simulator's current time: Options.Now plus the offset
// accumulated by Advance.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

// Advance moves the simulator's clock forward by d (backward if d is
// negative), on top of Options.Now.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// Calls reports how many requests reached operation op (one of the Op
// constants other than OpAny), whatever their outcome.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *Server) allCalls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(knownOps))
	for op := range knownOps {
		out[op] = s.calls[op]
	}
	return out
}

// Fault describes a failure to inject into an operation's answers.
type Fault struct {
	// Op is the operation to fail: one of the Op constants, OpAny for all
	// of them.
	Op string
	// Status is the HTTP status to answer with. Zero with Malformed false
	// means the fault only adds Latency and the request is then served
	// normally.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header (seconds or an
	// HTTP date).
	RetryAfter string
	// Body is the answer's body; empty selects an error body in the
	// operation's usual style.
	Body string
	// Malformed answers with a truncated JSON body, with status 200 unless
	// Status is set.
	Malformed bool
	// Latency delays the answer. The wait ends early, with no answer, when
	// the request's context is cancelled.
	Latency time.Duration
	// Count is how many requests the fault applies to; zero or negative
	// means until ClearFaults.
	Count int
	// Commit carries the operation out (for example the credential is
	// created or revoked), before any Latency, and then replaces its real
	// answer by the fault's, simulating an answer lost on the way back (or,
	// with a Latency longer than the client waits, never sent).
	Commit bool
}

type faultEntry struct {
	f         Fault
	remaining int // 0 = unlimited
}

// InjectFault adds f. Faults apply in the order injected; the first one
// matching a request's operation is used (and its Count consumed).
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &faultEntry{f: f}
	if f.Count > 0 {
		e.remaining = f.Count
	}
	s.faults = append(s.faults, e)
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// beginOp counts a call to op and returns the fault to apply, if any.
func (s *Server) beginOp(op string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	for i, e := range s.faults {
		if e.f.Op != op && e.f.Op != OpAny {
			continue
		}
		f := e.f
		if e.remaining > 0 {
			e.remaining--
			if e.remaining == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &f
	}
	return nil
}

func (s *Server) runOp(op string, w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	f := s.beginOp(op)
	if f == nil {
		h(w, r)
		return
	}
	replace := f.Status != 0 || f.Malformed
	if f.Commit && replace {
		h(httptest.NewRecorder(), r)
	}
	if f.Latency > 0 && !sleepCtx(r.Context(), f.Latency) {
		return // client gone
	}
	if !replace {
		h(w, r)
		return
	}
	s.writeFault(op, w, f)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) writeFault(op string, w http.ResponseWriter, f *Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	body := f.Body
	switch {
	case body != "":
		if looksJSON(body) {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
	case f.Malformed:
		w.Header().Set("Content-Type", "application/json")
		switch op {
		case OpToken:
			body = `{"access_token":"`
		case OpAitronos:
			body = `{"connection_id":"conn_`
		case OpPersonalClientCreate, OpPersonalClientGet:
			body = `{"personalClient":{"id":"`
		case OpPersonalClientList, OpSPCredentialList:
			body = `{"list":[{"id":"`
		default:
			body = `{"credential":{"id":"`
		}
	default:
		switch op {
		case OpToken:
			writeOAuthError(w, status, oauthErrorForStatus(status), "injected fault")
			return
		case OpAitronos:
			s.writeAitronosError(w, status, aitronosErrorForStatus(status))
			return
		default:
			writeC1Error(w, status, grpcCodeForStatus(status), strings.ToLower(http.StatusText(status)))
			return
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func looksJSON(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")
}
