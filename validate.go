package c1

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/rotation"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// idPattern is what an upstream id may look like: a plain identifier, safe as
// one URL path segment. Vault hands path segments over as they are, so "..",
// spaces, "%", "?" and control characters are refused here before any
// upstream call.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// badRequest is a 400 answer with msg.
func badRequest(format string, args ...any) error {
	return logical.CodedError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// notFound is a 404 answer with msg.
func notFound(format string, args ...any) error {
	return logical.CodedError(http.StatusNotFound, fmt.Sprintf(format, args...))
}

// checkID refuses an id that is not a plain identifier. The message quotes
// the value: ids are not secrets, and %q shows control characters escaped.
func checkID(field, value string) error {
	if !idPattern.MatchString(value) {
		return badRequest("%s %q is not a plain identifier: use 1 to 128 letters, digits, '_' or '-'", field, value)
	}
	return nil
}

// rejectUnknownFields refuses fields the path does not know; the SDK only warns
// about them. (Values that do not convert to their field's type never get
// here: the SDK refuses them with a 400 that names the field.)
func rejectUnknownFields(req *logical.Request, d *framework.FieldData) error {
	var unknown []string
	for k := range req.Data {
		if _, ok := d.Schema[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	known := make([]string, 0, len(d.Schema))
	for k := range d.Schema {
		known = append(known, k)
	}
	sort.Strings(known)
	return badRequest("unknown field(s) %s; this path accepts: %s",
		strings.Join(unknown, ", "), strings.Join(known, ", "))
}

// durationField returns a non-negative duration field and whether it was set.
func durationField(d *framework.FieldData, name string) (time.Duration, bool, error) {
	v, ok := d.GetOk(name)
	if !ok {
		return 0, false, nil
	}
	dur := time.Duration(v.(int)) * time.Second
	if dur < 0 {
		return 0, true, badRequest("field %q must not be negative", name)
	}
	return dur, true, nil
}

// checkUpstreamURL accepts an https URL, or an http URL to a loopback host,
// with nothing but scheme, host and an optional path.
func checkUpstreamURL(field, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", badRequest("field %q must be an absolute URL such as https://acme.conductor.one", field)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", badRequest("field %q must not carry user info, a query or a fragment", field)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return "", badRequest("field %q: plain http is refused except to a loopback host; use https", field)
		}
	default:
		return "", badRequest("field %q must use https", field)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secretFieldNames are the request fields that carry secrets.
var secretFieldNames = []string{"c1_client_secret", "c1_access_token", "aitronos_api_key"}

// secretFieldTypeError refuses a secret field whose value is not a string.
// The SDK's own conversion error would quote the value, so this check comes
// first and names only the field.
func secretFieldTypeError(req *logical.Request) error {
	var bad []string
	for _, name := range secretFieldNames {
		if v, ok := req.Data[name]; ok {
			if _, isString := v.(string); !isString {
				bad = append(bad, name)
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return badRequest("field(s) %s must be a string", strings.Join(bad, ", "))
}

// HandleRequest refuses secret fields of the wrong type before the SDK sees
// them.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if err := secretFieldTypeError(req); err != nil {
		return nil, err
	}
	return b.Backend.HandleRequest(ctx, req)
}

// HandleExistenceCheck leaves a request with a secret field of the wrong type
// to HandleRequest, which refuses it without quoting the value.
func (b *backend) HandleExistenceCheck(ctx context.Context, req *logical.Request) (checkFound, exists bool, err error) {
	if secretFieldTypeError(req) != nil {
		return false, false, nil
	}
	// Its error goes back unwrapped: Vault answers an errutil.UserError, by
	// its type, with a 400.
	return b.Backend.HandleExistenceCheck(ctx, req)
}

// Rotation in a maintenance window: rotation_schedule (standard five-field
// cron, in UTC) and rotation_window, the alternative to rotation_period.
// Parsing, window validation and the next fire time all come from the Vault
// SDK's own scheduler (sdk/rotation), the one Vault's rotation manager uses.

// rotationScheduleField is the rotation_schedule field of connectors (in
// creds/, and connector_rotation_schedule in config).
func rotationScheduleField(what, period string) *framework.FieldSchema {
	return stringSchema("", "Rotate "+what+" at the first time of this cron schedule (5 fields, UTC) after its creation, "+
		"instead of by age. Excludes "+period+". Expiry still wins. An empty string turns it off.")
}

// rotationWindowField is the rotation_window field of config and creds/.
func rotationWindowField() *framework.FieldSchema {
	return durationSchema(0, "With rotation_schedule: a rotation may start only this long after a scheduled time (at least 1h); "+
		"a missed window waits for the next one. 0 means no limit.")
}

// overridesFrom reads the connector rotation policy fields a request set:
// rotation_period or rotation_schedule (with rotation_window), named with
// prefix (config says "connector_": there the plain names are the root's),
// rotate_before_expiry, revoke_grace and revoke_max_delay. A request that
// sets both a schedule and a period, or a period the engine could not keep,
// is refused.
func overridesFrom(d *framework.FieldData, prefix string) (lifecycle.Overrides, error) {
	var o lifecycle.Overrides
	if v, ok := d.GetOk(prefix + "rotation_schedule"); ok {
		s := strings.TrimSpace(v.(string))
		o.RotationSchedule = &s
	}
	for name, dst := range map[string]**time.Duration{
		prefix + "rotation_period": &o.RotationPeriod, prefix + "rotation_window": &o.RotationWindow,
		"rotate_before_expiry": &o.RotateBeforeExpiry, "revoke_grace": &o.RevokeGrace, "revoke_max_delay": &o.RevokeMaxDelay,
	} {
		v, ok, err := durationField(d, name)
		if err != nil {
			return o, err
		}
		if ok {
			*dst = &v
		}
	}
	if o.RotationSchedule != nil && *o.RotationSchedule != "" && o.RotationPeriod != nil && *o.RotationPeriod > 0 {
		return o, badRequest("set %srotation_schedule or %srotation_period, not both: a schedule replaces age-based rotation", prefix, prefix)
	}
	if o.RotationPeriod != nil {
		if err := lifecycle.CheckRotationPeriod(*o.RotationPeriod); err != nil {
			return o, badRequest("field %q %v", prefix+"rotation_period", err)
		}
	}
	return o, nil
}

// validateSchedule checks p's schedule and window with the SDK's scheduler;
// messages name the field.
func validateSchedule(p lifecycle.Policy, prefix string) error {
	schedule, window := prefix+"rotation_schedule", prefix+"rotation_window"
	if p.RotationSchedule == "" {
		if p.RotationWindow != 0 {
			return badRequest("field %q applies only with a %s", window, schedule)
		}
		return nil
	}
	sched, err := rotation.DefaultScheduler.Parse(p.RotationSchedule)
	if err != nil {
		return badRequest("field %q is not a 5-field cron schedule: %v", schedule, err)
	}
	if sched.Next(time.Now()).IsZero() {
		return badRequest("field %q never fires", schedule)
	}
	if p.RotationWindow != 0 {
		if err := rotation.DefaultScheduler.ValidateRotationWindow(int(p.RotationWindow / time.Second)); err != nil {
			return badRequest("field %q: %v", window, err)
		}
	}
	return nil
}

// Field schemas, one line each where a path declares its fields. A zero
// default is left out, as the SDK reads a field without one.

// idSchema is a required id segment of a path.
func idSchema(desc string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeString, Description: desc, Required: true}
}

// connectorIDFields are the fields naming a connector, and those of extra.
func connectorIDFields(extra map[string]*framework.FieldSchema) map[string]*framework.FieldSchema {
	fields := map[string]*framework.FieldSchema{"app_id": idSchema("The C1 app id."), "connector_id": idSchema("The C1 connector id.")}
	maps.Copy(fields, extra)
	return fields
}

// secretField is a write-only string field, marked sensitive.
func secretField(desc string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeString, Description: desc, DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}}
}

// stringSchema is a string field.
func stringSchema(def, desc string) *framework.FieldSchema {
	return schema(framework.TypeString, def, def != "", desc)
}

// durationSchema is a duration field (seconds, or a duration such as "2h").
func durationSchema(def time.Duration, desc string) *framework.FieldSchema {
	return schema(framework.TypeDurationSecond, int(def.Seconds()), def != 0, desc)
}

// intSchema is an integer field.
func intSchema(def int, desc string) *framework.FieldSchema {
	return schema(framework.TypeInt, def, def != 0, desc)
}

// boolSchema is a boolean field.
func boolSchema(def bool, desc string) *framework.FieldSchema {
	return schema(framework.TypeBool, def, true, desc)
}

func schema(t framework.FieldType, def any, hasDefault bool, desc string) *framework.FieldSchema {
	s := &framework.FieldSchema{Type: t, Description: desc}
	if hasDefault {
		s.Default = def
	}
	return s
}

// rootRotationFrom reads the rotation fields of the engine's own credential
// (Vault's automated rotation fields) onto cfg. The one written last of a
// period and a schedule wins, and the result must be one the engine keeps.
func rootRotationFrom(d *framework.FieldData, cfg *pluginConfig) error {
	r := &cfg.RootRotation
	_, periodSet := d.GetOk("rotation_period")
	schedule, scheduleSet := d.GetOk("rotation_schedule")
	if err := r.ParseAutomatedRotationFields(d); err != nil {
		return badRequest("%v", err)
	}
	switch {
	case periodSet && r.RotationPeriod > 0:
		r.RotationSchedule, r.RotationWindow = "", 0
	case scheduleSet && schedule.(string) != "":
		r.RotationPeriod = 0
	}
	if err := lifecycle.CheckRotationPeriod(r.RotationPeriod); err != nil {
		return badRequest("field %q %v", "rotation_period", err)
	}
	if v, ok, err := durationField(d, "root_credential_ttl"); err != nil {
		return err
	} else if ok {
		cfg.RootCredentialTTL = v
	}
	return validateSchedule(cfg.rootPolicy(), "")
}

// adoption is a request to take over a connector's existing credential.
type adoption struct {
	credentialID, clientID, clientSecret string
	replace                              bool
	// adoptedCreated and adoptedExpires are the credential's times, as the
	// upstream reported them.
	adoptedCreated, adoptedExpires time.Time
}

// adoptionFrom reads the adoption fields of a creds write; nil when the
// request does not adopt. Each is checked before anything is asked
// upstream, and a message never quotes the secret.
func adoptionFrom(d *framework.FieldData) (*adoption, error) {
	a := &adoption{}
	set := 0
	for name, dst := range map[string]*string{"credential_id": &a.credentialID, "client_id": &a.clientID, "client_secret": &a.clientSecret} {
		if v, ok := d.GetOk(name); ok {
			*dst = strings.TrimSpace(v.(string))
			set++
		}
	}
	replace, replaceSet := d.GetOk("replace_current")
	if set == 0 {
		if replaceSet {
			return nil, badRequest("field \"replace_current\" applies only when adopting a credential (credential_id, client_id, client_secret)")
		}
		return nil, nil
	}
	a.replace = replaceSet && replace.(bool)
	for name, v := range map[string]string{"credential_id": a.credentialID, "client_id": a.clientID, "client_secret": a.clientSecret} {
		if v == "" {
			return nil, badRequest("field %q is required to adopt a credential (with credential_id, client_id and client_secret)", name)
		}
	}
	if err := checkID("credential_id", a.credentialID); err != nil {
		return nil, err
	}
	if err := c1api.ValidateClientID(a.clientID); err != nil {
		return nil, badRequest("field \"client_id\": %v", err)
	}
	if _, err := c1api.ParseClientSecret(a.clientSecret); err != nil {
		return nil, badRequest("field \"client_secret\": %v", err)
	}
	return a, nil
}
