package c1

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
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
