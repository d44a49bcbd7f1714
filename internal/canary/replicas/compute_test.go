package replicas

import "testing"

// TestMeasuredSeeds replays what was measured on a cluster running Argo
// Rollouts: 5 replicas, default maxSurge and maxUnavailable (25%).
func TestMeasuredSeeds(t *testing.T) {
	for _, both := range []bool{false, true} {
		in := steady(Input{Replicas: 5}, Plan{Canary: 0, Stable: 5})

		// setWeight 20: 1 canary + 4 stable, never more than 5 pods.
		in.Weight = 20
		c := &cluster{in: in, bothAtOnce: both}
		st := walk(t, c)
		expectPods(t, "setWeight 20", c.in, 1, 4, 20)
		if st.maxTotal != 5 {
			t.Errorf("setWeight 20: peak %d pods, measured 5", st.maxTotal)
		}

		// setWeight 50: 3 canary + 3 stable = 6 pods, for the whole pause.
		c.in.Weight = 50
		st = walk(t, c)
		expectPods(t, "setWeight 50", c.in, 3, 3, 50)
		if st.maxTotal != 6 {
			t.Errorf("setWeight 50: peak %d pods, measured 6", st.maxTotal)
		}
		for i := 0; i < 3; i++ { // the pause: nothing moves
			if p := Compute(c.in); p != (Plan{3, 3}) || !Settled(c.in) {
				t.Fatalf("setWeight 50 pause: Compute = %+v, Settled = %v", p, Settled(c.in))
			}
		}

		// promote to 100: 5 canary, stable scaled to 0.
		c.in.Weight = 100
		walk(t, c)
		expectPods(t, "promote", c.in, 5, 0, 100)
	}
}

func expectPods(t *testing.T, step string, in Input, canary, stable, actual int32) {
	t.Helper()
	if in.Canary.Replicas != canary || in.Stable.Replicas != stable {
		t.Errorf("%s: %d canary + %d stable, measured %d + %d", step, in.Canary.Replicas, in.Stable.Replicas, canary, stable)
	}
	_, avail := pods(in)
	if got := ActualWeight(in.Canary.Available, int32(avail)); got != actual {
		t.Errorf("%s: actual weight %d, measured %d", step, got, actual)
	}
}

// TestComputeArgoExpectations checks one reconcile against the cases in Argo
// Rollouts' unit tests for the basic canary, plus one derived case, marked
// below.
func TestComputeArgoExpectations(t *testing.T) {
	rs := func(spec, avail int32) RSState { return RSState{Replicas: spec, Current: spec, Available: avail} }
	tests := []struct {
		name                   string
		replicas, weight       int32
		surge, unav            IntOrPercent
		canary, stable, older  RSState
		wantCanary, wantStable int32
	}{
		{"available above spec is not counted", 10, 100, Pods(3), Pods(0), rs(6, 3), RSState{7, 7, 8}, RSState{}, 6, 7},
		{"surge by pods", 10, 20, Pods(2), Pods(0), rs(0, 0), rs(10, 10), RSState{}, 2, 10},
		{"surge by percent", 10, 20, Percent(20), Pods(0), rs(0, 0), rs(10, 10), RSState{}, 2, 10},
		{"stable shrinks once canary is available", 10, 20, Percent(20), Pods(0), rs(2, 2), rs(10, 10), RSState{}, 2, 8},
		{"surge caps the canary", 10, 30, Pods(2), Pods(0), rs(0, 0), rs(10, 10), RSState{}, 2, 10},
		{"unavailable by pods", 10, 20, Pods(0), Pods(2), rs(0, 0), rs(10, 10), RSState{}, 0, 8},
		{"unavailable by percent", 10, 20, Pods(0), Percent(20), rs(0, 0), rs(10, 10), RSState{}, 0, 8},
		{"unavailable caps the stable shrink", 10, 30, Pods(0), Pods(2), rs(0, 0), rs(10, 10), RSState{}, 0, 8},
		{"surge and unavailable together", 10, 50, Pods(2), Pods(1), rs(0, 0), rs(10, 10), RSState{}, 2, 9},
		{"weight 0 removes the canary", 10, 0, Pods(1), Pods(1), rs(1, 1), rs(10, 10), RSState{}, 0, 10},
		{"weight 100 removes the stable", 10, 100, Pods(1), Pods(1), rs(10, 10), rs(1, 1), RSState{}, 10, 0},
		{"1 replica keeps a canary pod at 20%", 1, 20, Pods(1), Pods(0), rs(0, 0), rs(1, 1), RSState{}, 1, 1},
		{"1 replica keeps a stable pod at 90%", 1, 90, Pods(1), Pods(0), rs(0, 0), rs(1, 1), RSState{}, 1, 1},
		{"stable grows back before the canary", 10, 30, Pods(1), Pods(0), rs(0, 0), rs(1, 1), rs(3, 3), 1, 7},
		{"canary shrinks and stable follows", 10, 30, Pods(0), Pods(3), rs(4, 4), rs(8, 5), RSState{}, 3, 7},
		{"over the ceiling, the growing side gives back", 10, 100, Pods(1), Pods(0), rs(10, 8), rs(10, 2), RSState{}, 9, 2},
		{"older pods block any shrink", 10, 30, Pods(0), Pods(1), rs(4, 2), rs(8, 6), rs(3, 3), 4, 8},
		{"5% with no surge: shrink stable first", 10, 5, Pods(0), Pods(1), rs(0, 0), rs(10, 10), RSState{}, 0, 9},
		{"5% with no surge: then add the canary", 10, 5, Pods(0), Pods(1), rs(0, 0), rs(9, 9), RSState{}, 1, 9},
		{"0%/0% behaves as 0/1", 10, 10, Percent(0), Percent(0), rs(0, 0), rs(10, 10), RSState{}, 0, 9},
		{"surge honoured when the stable is unavailable", 4, 100, Pods(1), Pods(0), rs(0, 0), rs(4, 1), RSState{}, 1, 4},
		{"shrink to the floor within surge", 3, 99, Pods(0), Pods(2), rs(0, 0), rs(3, 3), RSState{}, 0, 1},
		{"shrink to the floor within surge, part 2", 3, 99, Pods(0), Pods(2), rs(0, 0), rs(1, 1), RSState{}, 2, 1},
		{"stable unavailable does not block the shrink", 4, 100, Pods(1), Pods(0), rs(1, 1), rs(4, 1), RSState{}, 1, 3},
		{"abort: stable surges before the canary goes", 4, 0, Pods(1), Pods(0), rs(4, 4), rs(0, 0), RSState{}, 4, 1},
		{"abort: wait for the stable pod", 4, 0, Pods(1), Pods(0), rs(4, 4), rs(1, 0), RSState{}, 4, 1},
		{"abort: then remove one canary pod", 4, 0, Pods(1), Pods(0), rs(4, 4), rs(1, 1), RSState{}, 3, 1},
		// Not in Argo's tests. Derived from its rule that a shrinking canary
		// counts at spec.replicas: crash-looping canary pods must not keep an
		// aborted rollout from removing them.
		{"abort removes a crash-looping canary", 4, 0, Pods(1), Pods(0), rs(2, 0), rs(4, 4), RSState{}, 0, 4},
		// promote --full makes the weight 100 (see DesiredWeight).
		{"promote full ignores the step weight", 4, 100, Pods(4), Pods(4), rs(0, 0), rs(4, 4), RSState{}, 4, 0},
		{"promote full still honours surge", 4, 100, Pods(3), Pods(0), rs(0, 0), rs(4, 4), RSState{}, 3, 4},
	}
	for _, tt := range tests {
		in := Input{Replicas: tt.replicas, Weight: tt.weight, MaxSurge: ptr(tt.surge), MaxUnavailable: ptr(tt.unav),
			Canary: tt.canary, Stable: tt.stable, Older: tt.older}
		if got, want := Compute(in), (Plan{tt.wantCanary, tt.wantStable}); got != want {
			t.Errorf("%s: Compute = %+v, want %+v", tt.name, got, want)
		}
	}
}

func TestComputeNoStable(t *testing.T) {
	surge, unav := Pods(0), Pods(1)
	for _, canary := range []RSState{{10, 10, 0}, {9, 9, 9}} {
		in := Input{Replicas: 10, Weight: 10, MaxSurge: &surge, MaxUnavailable: &unav,
			Canary: canary, Stable: RSState{Replicas: 4, Available: 4}, NoStable: true}
		if got := Compute(in); got != (Plan{10, 0}) {
			t.Errorf("canary %+v: Compute = %+v, want all replicas on the canary", canary, got)
		}
		if Settled(in) {
			t.Errorf("Settled must be false without a stable")
		}
	}
}

func TestSettled(t *testing.T) {
	base := Input{Replicas: 5, Weight: 50}
	tests := []struct {
		name string
		in   Input
		want bool
	}{
		{"at 3+3, all available", steady(base, Plan{3, 3}), true},
		{"canary pod not available", func() Input { in := steady(base, Plan{3, 3}); in.Canary.Available = 2; return in }(), false},
		{"stable pods exist but not ready", func() Input { in := steady(base, Plan{3, 3}); in.Stable.Available = 1; return in }(), true},
		{"stable pod still terminating", func() Input { in := steady(base, Plan{3, 3}); in.Stable.Current = 4; return in }(), false},
		{"not yet at target", steady(base, Plan{1, 4}), false},
		{"older pods still available", func() Input { in := steady(base, Plan{3, 3}); in.Older = RSState{0, 1, 1}; return in }(), false},
	}
	for _, tt := range tests {
		if got := Settled(tt.in); got != tt.want {
			t.Errorf("%s: Settled = %v, want %v", tt.name, got, tt.want)
		}
	}
}
