package upstreamsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// ---- root-credential operations: personal clients and service-principal credentials ----
//
// Who may call them:
//   - personal clients: a personal client or a static bearer token, for its
//     own user (a bearer token acts for DefaultUserID); a service principal's
//     credential has no user and is refused (403);
//   - a service principal's credentials: a personal client or a static
//     bearer token (a user, acting as an administrator), or a credential of
//     that same service principal; another service principal's credential is
//     refused (403), an unknown service principal is 404.
// A connector credential is refused (403) on every one of them. Scoped roles
// are stored and answered but not enforced.

// rootReq is an authorised request of the root-credential API.
type rootReq struct {
	kind  RootKind
	owner string // the user (personal clients) or the service principal whose credentials are meant
	now   time.Time
	body  []byte
}

// owns reports whether c is one of the credentials the request is about.
func (q *rootReq) owns(c *rootCred) bool {
	if c.kind != q.kind {
		return false
	}
	if q.kind == RootPersonalClient {
		return c.userID == q.owner
	}
	return c.spID == q.owner
}

// rootHandler authenticates and authorises a root-credential request, then
// runs h with s.mu held.
func (s *Server) rootHandler(kind RootKind, h func(http.ResponseWriter, *http.Request, *rootReq)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		var readErr error
		if r.Method != http.MethodGet {
			body, readErr = io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.nowLocked()
		c, e := s.callerLocked(r, now)
		var owner string
		if e == nil {
			owner, e = s.rootOwnerLocked(c, kind, r.PathValue("service_principal_id"))
		}
		switch {
		case e != nil:
			e.write(w)
		case readErr != nil:
			errBodyUnreadable.write(w)
		default:
			h(w, r, &rootReq{kind: kind, owner: owner, now: now, body: body})
		}
	}
}

// rootOwnerLocked says whose credentials the caller may manage. The caller
// holds s.mu.
func (s *Server) rootOwnerLocked(c *caller, kind RootKind, spID string) (string, *c1Error) {
	if c.conn != nil {
		return "", errPermissionDenied
	}
	if kind == RootPersonalClient {
		if c.userID == "" {
			return "", &c1Error{http.StatusForbidden, grpcPermissionDenied, "a service principal has no personal clients"}
		}
		return c.userID, nil
	}
	if !s.sps[spID] {
		return "", &c1Error{http.StatusNotFound, grpcNotFound, "service principal not found"}
	}
	if c.root != nil && c.root.kind == RootServicePrincipalCredential && c.root.spID != spID {
		return "", errPermissionDenied
	}
	return spID, nil
}

// personalClientJSON is a PersonalClient as C1 answers it (protobuf JSON:
// empty fields are left out).
type personalClientJSON struct {
	ID              string   `json:"id"`
	ClientID        string   `json:"clientId,omitempty"`
	DisplayName     string   `json:"displayName,omitempty"`
	UserID          string   `json:"userId,omitempty"`
	ScopedRoles     []string `json:"scopedRoles,omitempty"`
	AllowSourceCidr []string `json:"allowSourceCidr,omitempty"`
	CreatedAt       string   `json:"createdAt,omitempty"`
	UpdatedAt       string   `json:"updatedAt,omitempty"`
	ExpiresTime     string   `json:"expiresTime,omitempty"`
	LastUsedAt      string   `json:"lastUsedAt,omitempty"`
	DeletedAt       string   `json:"deletedAt,omitempty"`
}

// spCredentialJSON is a ServicePrincipalCredential as C1 answers it.
type spCredentialJSON struct {
	ID                 string   `json:"id"`
	ClientID           string   `json:"clientId,omitempty"`
	ServicePrincipalID string   `json:"servicePrincipalId,omitempty"`
	DisplayName        string   `json:"displayName,omitempty"`
	ScopedRoleIDs      []string `json:"scopedRoleIds,omitempty"`
	AllowSourceCidrs   []string `json:"allowSourceCidrs,omitempty"`
	RequireDpop        bool     `json:"requireDpop,omitempty"`
	CreatedAt          string   `json:"createdAt,omitempty"`
	ExpiresAt          string   `json:"expiresAt,omitempty"`
	LastUsedAt         string   `json:"lastUsedAt,omitempty"`
}

// toJSON is c as the API answers it, never with its secret.
func (c *rootCred) toJSON() any {
	if c.kind == RootPersonalClient {
		return personalClientJSON{
			ID: c.id, ClientID: c.clientID, DisplayName: c.displayName, UserID: c.userID,
			ScopedRoles: c.scopedRoles, AllowSourceCidr: c.cidrs,
			CreatedAt: protoTime(c.createdAt), UpdatedAt: protoTime(c.updatedAt), ExpiresTime: protoTime(c.expires),
			LastUsedAt: protoTime(c.lastUsedAt), DeletedAt: protoTime(c.deletedAt),
		}
	}
	return spCredentialJSON{
		ID: c.id, ClientID: c.clientID, ServicePrincipalID: c.spID, DisplayName: c.displayName,
		ScopedRoleIDs: c.scopedRoles, AllowSourceCidrs: c.cidrs,
		CreatedAt: protoTime(c.createdAt), ExpiresAt: protoTime(c.expires), LastUsedAt: protoTime(c.lastUsedAt),
	}
}

// answerKey is the field of a create or get answer that holds the
// credential.
func (k RootKind) answerKey() string {
	if k == RootPersonalClient {
		return "personalClient"
	}
	return "credential"
}

// handleRootList lists the credentials, not deleted ones, a page at a time
// in creation order.
func (s *Server) handleRootList(w http.ResponseWriter, r *http.Request, q *rootReq) {
	size, after, err := s.pageParamsLocked(r.URL.Query())
	if err != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, err.Error())
		return
	}
	list := s.rootsLocked(func(c *rootCred) bool { return q.owns(c) && !c.deleted() && c.seq > after })
	var ans struct {
		List          []any  `json:"list,omitempty"`
		NextPageToken string `json:"nextPageToken,omitempty"`
	}
	if len(list) > size {
		list = list[:size]
		ans.NextPageToken = pageToken(list[size-1].seq)
	}
	for _, c := range list {
		ans.List = append(ans.List, c.toJSON())
	}
	writeJSON(w, http.StatusOK, ans)
}

// pageParamsLocked reads page_size (capped at the server's page size; 0 or
// absent selects it) and page_token (the sequence number listing resumes
// after). The caller holds s.mu.
func (s *Server) pageParamsLocked(q url.Values) (size, after int, err error) {
	size = s.pageSize
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return 0, 0, errors.New("page_size must be a non-negative integer")
		}
		if n > 0 && int(n) < size {
			size = int(n)
		}
	}
	if v := q.Get("page_token"); v != "" {
		if after, err = parsePageToken(v); err != nil {
			return 0, 0, err
		}
	}
	return size, after, nil
}

const pageTokenPrefix = "after:"

// pageToken is the opaque token of the page after the item with sequence
// number seq.
func pageToken(seq int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.Itoa(seq)))
}

func parsePageToken(tok string) (int, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err == nil {
		v, ok := bytes.CutPrefix(raw, []byte(pageTokenPrefix))
		if n, err := strconv.Atoi(string(v)); ok && err == nil && n > 0 {
			return n, nil
		}
	}
	return 0, errors.New("invalid page_token")
}

// lookupRootLocked finds the credential named by the path, deleted ones
// included. The caller holds s.mu.
func (s *Server) lookupRootLocked(r *http.Request, q *rootReq) *rootCred {
	c, ok := s.roots[r.PathValue("id")]
	if !ok || !q.owns(c) {
		return nil
	}
	return c
}

// handleRootGet reads one credential. A deleted personal client answers
// with its deletedAt, or 404 once the simulator hides deleted credentials; a
// deleted service-principal credential, which has no deletedAt, is 404.
func (s *Server) handleRootGet(w http.ResponseWriter, r *http.Request, q *rootReq) {
	c := s.lookupRootLocked(r, q)
	if c == nil || c.deleted() && (s.hideDeleted || c.kind == RootServicePrincipalCredential) {
		errCredentialMissing.write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{q.kind.answerKey(): c.toJSON()})
}

// handleRootDelete deletes (revokes) one credential: body {} or none. An
// unknown or already deleted credential is 404.
func (s *Server) handleRootDelete(w http.ResponseWriter, r *http.Request, q *rootReq) {
	if _, err := decodeStrictObject(q.body, true); err != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, err.Error())
		return
	}
	c := s.lookupRootLocked(r, q)
	if c == nil || c.deleted() {
		errCredentialMissing.write(w)
		return
	}
	s.deleteRootLocked(c, q.now)
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleRootCreate creates a credential for the caller's user (personal
// clients) or the service principal in the path, and answers it with its
// clientSecret, at the answer's top level.
func (s *Server) handleRootCreate(w http.ResponseWriter, r *http.Request, q *rootReq) {
	var in struct {
		DisplayName string   `json:"displayName"`
		Expires     *string  `json:"expires"`
		ScopedRoles []string `json:"scopedRoles"`
		CIDR        []string `json:"allowSourceCidr"`  // personal clients
		CIDRs       []string `json:"allowSourceCidrs"` // service-principal credentials
		RequireDpop bool     `json:"requireDpop"`      // service-principal credentials
	}
	allowed := []string{"displayName", "expires", "scopedRoles", "allowSourceCidr"}
	if q.kind == RootServicePrincipalCredential {
		allowed = []string{"displayName", "expires", "scopedRoles", "allowSourceCidrs", "requireDpop"}
	}
	invalid := func(msg string) { writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, msg) }
	if err := decodeStrictJSON(q.body, &in, allowed...); err != nil {
		invalid(err.Error())
		return
	}
	var life time.Duration
	if in.Expires != nil {
		d, err := parseProtoDuration(*in.Expires)
		if err != nil {
			invalid(err.Error())
			return
		}
		life = d
	}
	cidrs := in.CIDR
	if q.kind == RootServicePrincipalCredential {
		cidrs = in.CIDRs
		switch {
		case life == 0:
			invalid("expires is required for a service-principal credential")
			return
		case life > MaxServicePrincipalCredentialLifetime:
			invalid(fmt.Sprintf("expires must be at most %ds", int64(MaxServicePrincipalCredentialLifetime/time.Second)))
			return
		case in.RequireDpop:
			invalid("requireDpop is not supported")
			return
		}
	}
	prefixes, err := parseCIDRs(cidrs)
	if err == nil {
		err = checkRoles(in.ScopedRoles)
	}
	if err != nil {
		invalid(err.Error())
		return
	}
	priv, secret, err := newClientKey()
	if err != nil {
		writeC1Error(w, http.StatusInternalServerError, grpcInternal, "internal error")
		return
	}
	c := &rootCred{
		kind: q.kind, displayName: in.DisplayName, scopedRoles: slices.Clone(in.ScopedRoles),
		cidrs: slices.Clone(cidrs), prefixes: prefixes, secret: secret, priv: priv,
		createdAt: q.now, updatedAt: q.now,
	}
	suffix := "/pcc"
	if q.kind == RootPersonalClient {
		c.userID = q.owner
	} else {
		c.spID = q.owner
		suffix = "/spc"
	}
	if life > 0 {
		c.expires = q.now.Add(life)
	}
	var name string
	for c.clientID == "" || s.principalLocked(c.clientID) != nil {
		name = randClientName()
		c.clientID = name + "@" + r.Host + suffix
	}
	if c.displayName == "" {
		c.displayName = name
	}
	s.addRootLocked(c)
	writeJSON(w, http.StatusOK, map[string]any{q.kind.answerKey(): c.toJSON(), "clientSecret": c.secret})
}

// protoDurationRE is a google.protobuf.Duration in JSON: seconds with up to
// nine fractional digits and the suffix "s".
var protoDurationRE = regexp.MustCompile(`^(-?)([0-9]+)(?:\.([0-9]{1,9}))?s$`)

// parseProtoDuration parses a protobuf JSON duration such as "7776000s" and
// refuses a negative one.
func parseProtoDuration(v string) (time.Duration, error) {
	m := protoDurationRE.FindStringSubmatch(v)
	if m == nil {
		return 0, errors.New(`expires must be a duration in seconds such as "7776000s"`)
	}
	if m[1] == "-" {
		return 0, errors.New("expires must not be negative")
	}
	secs, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil || secs > math.MaxInt64/int64(time.Second)-1 {
		return 0, errors.New("expires is too long")
	}
	d := time.Duration(secs) * time.Second
	if m[3] != "" {
		frac, _ := strconv.Atoi((m[3] + "00000000")[:9])
		d += time.Duration(frac)
	}
	return d, nil
}

// decodeStrictJSON decodes a JSON object into v, refusing keys outside
// allowed (matched exactly, unlike encoding/json) and values of the wrong
// type. An empty body is refused.
func decodeStrictJSON(body []byte, v any, allowed ...string) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errors.New("request body is required")
	}
	if trimmed[0] != '{' {
		return errors.New("request body must be a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return fmt.Errorf("malformed JSON body: %v", err)
	}
	for k := range raw {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("unknown field %q", k)
		}
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("field %q has the wrong type", te.Field)
		}
		return fmt.Errorf("malformed JSON body: %v", err)
	}
	return nil
}
