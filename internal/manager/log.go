package manager

import (
	"errors"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// quietLogger is log with one change: an error that only says the
// object's namespace is being deleted is logged as Info at V(1) (debug),
// not as an error. Such a reconcile cannot succeed and needs nobody: the
// namespace and everything in it are going away (test cleanup produces
// hundreds of these "Reconciler error ... namespace is being terminated"
// lines). The reconcile is still retried with backoff, as any error.
func quietLogger(log logr.Logger) logr.Logger {
	sink := log.GetSink()
	if sink == nil {
		return log
	}
	return logr.New(quietSink{sink})
}

// namespaceTerminating reports whether err is the API server refusing a
// write because the namespace is being deleted.
func namespaceTerminating(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if apierrors.HasStatusCause(e, corev1.NamespaceTerminatingCause) {
			return true
		}
	}
	return false
}

type quietSink struct{ logr.LogSink }

func (s quietSink) Init(info logr.RuntimeInfo) {
	info.CallDepth++ // this wrapper is one more frame between the caller and the sink
	s.LogSink.Init(info)
}

func (s quietSink) Error(err error, msg string, kv ...any) {
	if !namespaceTerminating(err) {
		s.LogSink.Error(err, msg, kv...)
		return
	}
	if s.LogSink.Enabled(1) {
		s.LogSink.Info(1, msg+" (namespace being deleted)", append(kv, "error", err.Error())...)
	}
}

func (s quietSink) WithValues(kv ...any) logr.LogSink { return quietSink{s.LogSink.WithValues(kv...)} }
func (s quietSink) WithName(name string) logr.LogSink { return quietSink{s.LogSink.WithName(name)} }

func (s quietSink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return quietSink{cd.WithCallDepth(depth)}
	}
	return s
}
