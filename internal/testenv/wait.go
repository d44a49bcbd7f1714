package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond every 100ms until it reports true, failing the test
// after timeout with cond's last explanation of what it was waiting for.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var why string
	for {
		ok, w := cond()
		if ok {
			return
		}
		why = w
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
