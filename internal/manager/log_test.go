package manager

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// terminatingErr is what the API server answers a create in a namespace
// being deleted.
func terminatingErr() error {
	err := apierrors.NewForbidden(schema.GroupResource{Resource: "replicasets"}, "web-1",
		errors.New("unable to create new content in namespace demo because it is being terminated"))
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Message: "namespace demo is being terminated"}}
	return err
}

func TestNamespaceTerminatingIsNotAnError(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		level     int // zap verbosity: 0 info, 1 debug
		wantError bool
		wantDebug bool
	}{
		{"terminating, info level", terminatingErr(), 0, false, false},
		{"terminating (wrapped), info level", fmt.Errorf("create ReplicaSet: %w", terminatingErr()), 0, false, false},
		{"terminating, debug level", terminatingErr(), 1, false, true},
		{"other forbidden", apierrors.NewForbidden(schema.GroupResource{Resource: "replicasets"}, "web-1", errors.New("no")), 0, true, false},
		{"plain error", errors.New("boom"), 0, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			lvl := zap.Level(zapLevel(c.level))
			log := quietLogger(zap.New(zap.WriteTo(&buf), lvl)).WithName("rollout").WithValues("controller", "rollout")
			log.Error(c.err, "Reconciler error")
			out := buf.String()
			if got := strings.Contains(out, `"level":"error"`); got != c.wantError {
				t.Errorf("logged at error level: %v, want %v:\n%s", got, c.wantError, out)
			}
			if got := strings.Contains(out, `"level":"debug"`) && strings.Contains(out, "namespace being deleted"); got != c.wantDebug {
				t.Errorf("logged at debug: %v, want %v:\n%s", got, c.wantDebug, out)
			}
			if out != "" && !strings.Contains(out, `"controller":"rollout"`) {
				t.Errorf("values lost:\n%s", out)
			}
		})
	}
}

func zapLevel(v int) zapcore.Level { return zapcore.Level(-v) }
