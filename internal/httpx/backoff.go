package httpx

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff returns how long to wait before retry number attempt (0 for the
// first retry) after resp (which may be nil after a network error).
//
// When resp is a 429 or any 5xx answer with a valid Retry-After header (delay
// in seconds or an HTTP date), it returns exactly that delay, capped at
// maxRetryAfter (no cap when maxRetryAfter <= 0). Otherwise it returns an
// exponential delay min*2^attempt, capped at max, with "equal jitter": a
// uniformly random value in [d/2, d], never below min.
func Backoff(min, max, maxRetryAfter time.Duration, attempt int, resp *http.Response) time.Duration {
	if d, ok := retryAfter(resp, time.Now()); ok {
		if maxRetryAfter > 0 && d > maxRetryAfter {
			return maxRetryAfter
		}
		return d
	}
	if min < 0 {
		min = 0
	}
	if max < min {
		max = min
	}
	d := max
	if attempt < 0 {
		attempt = 0
	}
	// Double min attempt times, stopping as soon as max is reached so that
	// large attempt numbers cannot overflow.
	if min > 0 {
		d = min
		for i := 0; i < attempt && d < max; i++ {
			d *= 2
		}
		if d > max {
			d = max
		}
	}
	half := d / 2
	w := half + time.Duration(rand.Int64N(int64(d-half)+1))
	if w < min {
		w = min
	}
	return w
}

// retryAfter reads the Retry-After header of a 429 or 5xx answer.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500) || resp.StatusCode > 599 {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}
