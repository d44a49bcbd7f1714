package rollout

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func tmpl(image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image,
			Ports:     []corev1.ContainerPort{{ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.5")}},
		}}},
	}
}

// defaulted is t as the API server stores it in a ReplicaSet: the hash
// label added and PodSpec defaults filled in.
func defaulted(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	d := t.DeepCopy()
	d.Labels[PodTemplateHashLabel] = "abc"
	d.Spec.RestartPolicy, d.Spec.DNSPolicy, d.Spec.SchedulerName = corev1.RestartPolicyAlways, corev1.DNSClusterFirst, "default-scheduler"
	d.Spec.TerminationGracePeriodSeconds = ptr(int64(30))
	d.Spec.SecurityContext = &corev1.PodSecurityContext{}
	for i := range d.Spec.Containers {
		c := &d.Spec.Containers[i]
		c.TerminationMessagePath, c.TerminationMessagePolicy = "/dev/termination-log", corev1.TerminationMessageReadFile
		c.ImagePullPolicy = corev1.PullIfNotPresent
		for j := range c.Ports {
			c.Ports[j].Protocol = corev1.ProtocolTCP
		}
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("500m")
	}
	return d
}

func TestSameTemplate(t *testing.T) {
	base := tmpl("web:1")
	for _, tc := range []struct {
		name string
		have *corev1.PodTemplateSpec
		want bool
	}{
		{"identical", base.DeepCopy(), true},
		{"as the API server stored it, with defaults and the hash label", defaulted(base), true},
		{"another image", defaulted(tmpl("web:2")), false},
		{"one more container", func() *corev1.PodTemplateSpec {
			d := defaulted(base)
			d.Spec.Containers = append(d.Spec.Containers, corev1.Container{Name: "side", Image: "side:1"})
			return d
		}(), false},
		{"an extra label", func() *corev1.PodTemplateSpec {
			d := defaulted(base)
			d.Labels["team"] = "a"
			return d
		}(), false},
		{"another cpu request", func() *corev1.PodTemplateSpec {
			d := defaulted(base)
			d.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
			return d
		}(), false},
	} {
		if got := SameTemplate(tc.have, base); got != tc.want {
			t.Errorf("%s: SameTemplate = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A hash collision gets a salted name; a template that never collided
// keeps its plain hash, and the colliding ReplicaSet is never reused.
func TestResolveHashOnCollision(t *testing.T) {
	want := tmpl("web:2")
	plain := TemplateHash(want)
	o := &observed{template: *want}
	if h, n := o.resolveHash(&v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}}}}); h != plain || n != nil {
		t.Fatalf("no ReplicaSet: want the plain hash %s, have %s/%v", plain, h, n)
	}
	impostor := defaulted(tmpl("web:other"))
	impostor.Labels[PodTemplateHashLabel] = plain
	o.owned = append(o.owned, rsWith(plain, impostor))
	h, n := o.resolveHash(&v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}}}})
	if h == plain || n == nil || *n != 1 {
		t.Fatalf("collision: want a salted hash with count 1, have %s/%v", h, n)
	}
	// The same template's own ReplicaSet under the salted name is found again.
	own := defaulted(want)
	own.Labels[PodTemplateHashLabel] = h
	o.owned = append(o.owned, rsWith(h, own))
	if h2, n2 := o.resolveHash(&v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}}}}); h2 != h || *n2 != 1 {
		t.Fatalf("after creating it: want %s/1 again, have %s/%d", h, h2, *n2)
	}
	// Its own ReplicaSet under the plain name is not a collision.
	mine := defaulted(want)
	o.owned = []*appsv1.ReplicaSet{rsWith(plain, mine)}
	if h3, n3 := o.resolveHash(&v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}}}}); h3 != plain || n3 != nil {
		t.Fatalf("own ReplicaSet: want %s, have %s/%v", plain, h3, n3)
	}
}

func rsWith(hash string, t *corev1.PodTemplateSpec) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{PodTemplateHashLabel: hash}},
		Spec: appsv1.ReplicaSetSpec{Template: *t}}
}
