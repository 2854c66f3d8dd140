package httpx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	e := &Error{Op: "aitronos get connection", Method: "GET", Path: "/v1/x", Status: 401, Code: "INVALID_API_KEY", Message: "Invalid key", TraceID: "req_1", Attempts: 1}
	want := "aitronos get connection: GET /v1/x: 401 Unauthorized: INVALID_API_KEY: Invalid key (trace id req_1) (after 1 attempt)"
	if e.Error() != want {
		t.Fatalf("got  %q\nwant %q", e.Error(), want)
	}
	n := &Error{Op: "op", Method: "POST", Path: "/p", Attempts: 2, Err: context.DeadlineExceeded}
	if got := n.Error(); got != "op: POST /p: context deadline exceeded (after 2 attempts)" {
		t.Fatalf("got %q", got)
	}
	if !errors.Is(n, context.DeadlineExceeded) {
		t.Fatal("Unwrap lost the cause")
	}
}

func TestStatusOf(t *testing.T) {
	wrapped := fmt.Errorf("outer: %w", &Error{Status: 404})
	if StatusOf(wrapped) != 404 || !IsNotFound(wrapped) {
		t.Fatal("status not found through wrapping")
	}
	if StatusOf(errors.New("plain")) != 0 || IsNotFound(nil) {
		t.Fatal("plain error has a status")
	}
}

func TestCleanText(t *testing.T) {
	got := cleanText("a\x00b\r\n\tc\u202ed\x1b[31m  e", 200)
	if got != "ab cd[31m e" {
		t.Fatalf("got %q", got)
	}
	long := cleanText(strings.Repeat("é", 500), 200)
	if n := len([]rune(long)); n != 201 || !strings.HasSuffix(long, "…") {
		t.Fatalf("truncated to %d runes: %q", n, long)
	}
	if cleanText("bad \xff utf8", 200) != "bad utf8" {
		t.Fatalf("invalid UTF-8 kept: %q", cleanText("bad \xff utf8", 200))
	}
}

func TestScrubLongestFirst(t *testing.T) {
	got := scrub("Bearer abcdefgh and abcdefgh", []string{"abcdefgh", "Bearer abcdefgh"})
	if got != "[redacted] and [redacted]" {
		t.Fatalf("got %q", got)
	}
}

func TestParseErrorFallsBackToTheBody(t *testing.T) {
	none := func(int, []byte) (string, string, string) { return "", "", "" }
	coded := func(int, []byte) (string, string, string) { return "E1", "", "t1" }
	cases := []struct {
		parse                func(int, []byte) (string, string, string)
		body                 string
		code, message, trace string
	}{
		{nil, "plain text failure", "", "plain text failure", ""},
		{nil, "<html><body>502</body></html>", "", "", ""},
		{nil, "", "", "", ""},
		{none, `{"unknown":"shape"}`, "", `{"unknown":"shape"}`, ""},
		{coded, "body", "E1", "", "t1"},
	}
	for _, tc := range cases {
		o := Options{ParseError: tc.parse}
		c, m, tr := o.parseError(400, []byte(tc.body))
		if c != tc.code || m != tc.message || tr != tc.trace {
			t.Errorf("%s: got (%q, %q, %q)", tc.body, c, m, tr)
		}
	}
}
