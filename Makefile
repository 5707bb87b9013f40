# fsmde_ros — two commands on a fresh Debian machine: `make demo`, `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed
OUT ?= out
# Tests talk over DDS only on this host; each run picks its own ROS_DOMAIN_ID (test/conftest.py).
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
# The machine's pip config may point at missing local indexes; their warnings are noise.
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: setup demo test bench weights teacher teacher-v2 ablation selfsup-bag selfsup-fresh selfsup-accel selfsup-compose selfsup-compose-late selfsup-selftrain selfsup-selftrain-pw eval-real clean distclean

setup: $(STAMP)

$(STAMP): requirements.txt constraints.txt training/pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt $(PIP_QUIET)
	$(PY) -m pip install -q --no-deps -e training -e . $(PIP_QUIET)
	$(PY) -c "import torch, rclpy, nuscenes, rosbags, cv2; assert torch.__version__.startswith('2.13.0')"
	cd / && $(abspath $(PY)) -c "import fsmde_ros.backends, fsmde_train.synth"  # installed, not just on the cwd
	touch $@

demo: setup
	$(PY) -m fsmde_ros.tools.demo --out $(OUT)/demo

# Re-make the shipped demo model (models/fsmde_student): a domain-randomised train world and the plain validation
# world, then the student with the full method (sparse LiDAR GT + CI-KD + VR-KD from the stand-in teacher) made for
# real cameras (configs/shipped.yaml: camera-aware input, photometric augmentation, sky/validity head; the world with
# shadows, wheeled vehicles, close traffic and half the vehicles in any paint: train-dr5; random convolutions, 4500
# steps; training/RESULTS.md). CPU (2 cores): ~12 min worlds + ~20 min training (4 steps/s alone).
WORLDS := data/weights/train-dr5 data/weights/val
# A world renders into <folder>.part, one scene per CPU core at a time (the files are the same as with one process),
# and is renamed when complete: a killed rendering never leaves a folder that make takes for done.
SYNTH_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
SYNTH = rm -rf $@.part && $(VENV)/bin/fsmde-synth --out $@.part --workers $(SYNTH_WORKERS) --quiet
data/weights/train-dr: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize && mv $@.part $@
data/weights/val: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 200 && mv $@.part $@
# More randomised training scenes like train-dr's (other seeds): the pose probe's "is it the number of scenes?"
# question (training/results/selfsup_bag_pose_scenes/PLAN.md). CPU: ~8 min a world.
data/weights/train-dr110 data/weights/train-dr120: data/weights/train-dr%: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed $* --randomize && mv $@.part $@
# train-dr's streets, rigs and styles plus cast sun shadows, vehicles on wheels with lamps, and traffic close ahead
# and behind (issue 11: training/results/real_world_detail/PLAN.md). CPU: ~5 min.
data/weights/train-dr2: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize --shadows --car-detail --close-traffic && mv $@.part $@
# train-dr2 with half its scenes open suburban streets (low set-back buildings, yards, parking lots, wide sky) instead
# of urban canyons (issue 11: training/results/open_streets/PLAN.md). CPU: ~12 min (2 workers).
data/weights/train-dr3: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize --shadows --car-detail --close-traffic --open-streets && mv $@.part $@
# train-dr2 with every vehicle in its own random paint and pattern, glossy paint and glass (issue 11:
# training/results/vehicle_looks/PLAN.md). CPU: ~11 min (2 workers).
data/weights/train-dr4: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize --shadows --car-detail --close-traffic --vehicle-looks && mv $@.part $@
# train-dr2 with half the vehicles (body and cabin together) in their own paint, glossy; the others matte palette paint
# (issue 11: training/results/vehicle_looks_half/PLAN.md). CPU: ~11 min (2 workers).
data/weights/train-dr5: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize --shadows --car-detail --close-traffic --vehicle-looks 0.5 && mv $@.part $@
# train-dr2 with SUVs, pick-ups and vans among the cars (issue 11: training/results/vehicle_types/PLAN.md; not kept).
# CPU: 600 s (2 workers).
data/weights/train-dr6: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize --shadows --car-detail --close-traffic --vehicle-types && mv $@.part $@
# train-dr5 with one or two cross streets per scene, 50-140 m long each way: side cameras see far structure, which
# the canyons never showed them (issue 11: training/results/cross_streets/PLAN.md; not kept). CPU: 754 s (2 workers).
data/weights/train-dr7: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize --shadows --car-detail --close-traffic --vehicle-looks 0.5 --cross-streets && mv $@.part $@

# train-dr5 re-rendered since the writer saves each frame's material map (same images, depth and LiDAR): the labels of
# the auxiliary semantic head (issue 11: training/results/semantic_head/PLAN.md; not kept). CPU: 668 s (2 workers).
data/weights/train-dr8: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize --shadows --car-detail --close-traffic --vehicle-looks 0.5 && mv $@.part $@

# train-dr5's flags on 48 streets of 1 s instead of 16 of 3 s: the same 576 camera sets, three times the streets
# (issue 11: training/results/scene_count/PLAN.md). CPU: 865 s (2 workers).
data/weights/train-dr9: | setup
	$(SYNTH) --scenes 48 --duration 1 --width 320 --height 180 --seed 100 --randomize --shadows --car-detail --close-traffic --vehicle-looks 0.5 && mv $@.part $@

# train-dr5 with real photographed grain (scikit-image's brick, gravel, grass photographs) on road, pavement, grass
# and façades (issue 11: training/results/photo_texture/PLAN.md; not kept). Needs scikit-image's wheel for the
# photographs. CPU: 1118 s (2 workers).
data/weights/train-dr10: | setup
	$(VENV)/bin/pip install -q scikit-image==0.24.0
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize --shadows --car-detail --close-traffic --vehicle-looks 0.5 --photo-textures 1.0 && mv $@.part $@

# train-dr's streets and start speeds, each scene accelerating or braking (issue 14's pose network: RESULTS.md)
data/weights/train-accel: | setup
	$(SYNTH) --scenes 16 --duration 3 --width 320 --height 180 --seed 100 --randomize --speed-change 1.5 && mv $@.part $@

# The CPU kernels are pinned to AVX2 in all three libraries that pick them by the machine (ATen, oneDNN, MKL): with
# the machine's widest (AVX-512 here) the same config gave other weights on another CPU kind (training/RESULTS.md).
ISA_PIN := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2
weights: setup $(WORLDS)
	cd training && $(ISA_PIN) ../$(PY) -m fsmde_train.engine.trainer --config configs/synthetic_method.yaml configs/ablation/ci_vr_kd_two_hot.yaml configs/shipped.yaml

# The learned stand-in teacher (issue 12; training/README.md "Teachers"): a reduced Depth-Anything-V2 trained with
# the scale-and-shift-invariant loss on its own world (seed 400, "alt" palette, randomised), which no student trains
# or validates on; weights in data/teacher/learned (outside git, sha256 in teacher_manifest.json). Then its fitted
# AbsRel and error picture on the held-out test world (boulevard layout, seed 500: no other world has that layout).
# CPU (2 cores): ~6 min world + ~45 min training.
data/teacher/world: | setup
	$(SYNTH) --scenes 10 --duration 2.5 --width 320 --height 180 --seed 400 --randomize --palette alt && mv $@.part $@
data/weights/test: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 500 --layout boulevard && mv $@.part $@
teacher: setup data/teacher/learned/teacher_manifest.json data/weights/test
	cd training && ../$(PY) -m fsmde_train.eval.teacher_eval --teacher ../data/teacher/learned --data-root ../data/weights/test --out results/teacher

# The learned stand-in teacher, second version (issue 12; training/results/teacher_v2): v1's recipe on a world with
# every generator variation (open and cross streets, vehicle types and paints, shadows, photographed grain; none is
# the test world's boulevard) and a 144 x 8 ViT. Measured worse than v1 on the validation world (0.246 vs 0.187,
# RESULTS.md), so not the ablation's teacher; make teacher stays v1. CPU (2 cores): ~20 min world + ~85 min training.
data/teacher/world-v2: | setup
	$(VENV)/bin/pip install -q scikit-image==0.24.0
	$(SYNTH) --scenes 12 --duration 2.5 --width 320 --height 180 --seed 400 --randomize --palette alt --shadows --car-detail --close-traffic --vehicle-looks 0.5 --open-streets --cross-streets --vehicle-types --photo-textures 0.6 && mv $@.part $@
data/teacher/learned-v2/teacher_manifest.json: | data/teacher/world-v2 data/weights/val
	cd training && ../$(PY) -m fsmde_train.engine.teacher_trainer --config configs/teacher_v2.yaml --quiet
teacher-v2: setup data/teacher/learned-v2/teacher_manifest.json data/weights/test
	cd training && ../$(PY) -m fsmde_train.eval.teacher_eval --teacher ../data/teacher/learned-v2 --data-root ../data/weights/test --out results/teacher_v2/test

# The ablation of training/RESULTS.md (issue 12): each row x 3 seeds on the plain train world with the learned teacher,
# same budget; choices are made on the validation world (seed 200), the reported table is the test world's (seed 500,
# boulevard layout: no training or validation world has it), evaluated once after the choices. Rows are named
# <row>/<seed>, so fsmde-eval prints mean ± std per row. No ablation config writes models/ (training/tests checks it).
# CPU: ~8-10 min a run with one thread (measured two side by side on 2 cores, ~1.5 h for the 18; this loop runs
# them one at a time). GPU: minutes.
ABLATION := sparse_only plain_kd ci_kd ci_vr_kd ci_kd_two_hot ci_vr_kd_two_hot
SEEDS := 0 1 2
ABLATION_RUNS := $(foreach r,$(ABLATION),$(foreach s,$(SEEDS),runs/ablation/$(r)/$(s)))
data/weights/train: | setup
	$(SYNTH) --scenes 6 --duration 6 --width 320 --height 180 --seed 100 && mv $@.part $@
data/teacher/learned/teacher_manifest.json: | data/teacher/world data/weights/val
	cd training && ../$(PY) -m fsmde_train.engine.teacher_trainer --config configs/teacher.yaml --quiet
ablation: setup data/weights/train data/weights/val data/weights/test data/teacher/learned/teacher_manifest.json
	cd training && for row in $(ABLATION); do for seed in $(SEEDS); do ../$(PY) -m fsmde_train.engine.trainer --quiet --config configs/synthetic_method.yaml configs/ablation/$$row.yaml --set seed=$$seed out_dir=runs/ablation/$$row/$$seed; done; done
	cd training && ../$(PY) -m fsmde_train.eval.cli --run $(ABLATION_RUNS) --names $(foreach r,$(ABLATION),$(foreach s,$(SEEDS),$(r)/$(s))) --data-root ../data/weights/val --sweeps --out results/ablation_val
	cd training && ../$(PY) -m fsmde_train.eval.cli --run $(ABLATION_RUNS) --names $(foreach r,$(ABLATION),$(foreach s,$(SEEDS),$(r)/$(s))) --data-root ../data/weights/test --sweeps --out results/ablation_test

# Self-supervised from scratch on camera bags with NO depth GT (issue 14; training/RESULTS.md): the randomised train
# world converted to rosbag2 without LiDAR (one bag with odometry on /tf, one without: the pose network's rows),
# (like the worlds, into <folder>.part, renamed when complete), each row of configs/selfsup_bag*, then the pose network's motion against the held-out test world's ego poses.
# CPU (2 cores): ~30-45 min a row, pyramid_8k twice that, the pose_net_depth_2pass rows 1.3 x.
SELFSUP_ROWS := pyramid pyramid_8k curvature pose_net pose_net_pyramid pose_net_depth pose_net_depth_difference pose_net_depth_2pass pose_net_depth_2pass_strides pose_net_depth_2pass_stagger pose_net_depth_2pass_seq pose_net_depth_2pass_seq_jitter pose_net_no_spatial
data/bags/train-dr: | data/weights/train-dr
	rm -rf $@.part && cd training && ../$(PY) -m fsmde_train.convert.cli --dataroot ../data/weights/train-dr --version v1.0-synth --out ../$@.part --no-lidar
	mv $@.part $@
data/bags/train-dr-noodom: | data/weights/train-dr
	rm -rf $@.part && cd training && ../$(PY) -m fsmde_train.convert.cli --dataroot ../data/weights/train-dr --version v1.0-synth --out ../$@.part --no-lidar --no-odometry
	mv $@.part $@
data/bags/train-dr110-noodom data/bags/train-dr120-noodom: data/bags/train-dr%-noodom: | data/weights/train-dr%
	rm -rf $@.part && cd training && ../$(PY) -m fsmde_train.convert.cli --dataroot ../data/weights/train-dr$* --version v1.0-synth --out ../$@.part --no-lidar --no-odometry
	mv $@.part $@
data/bags/train-accel-noodom: | data/weights/train-accel
	rm -rf $@.part && cd training && ../$(PY) -m fsmde_train.convert.cli --dataroot ../data/weights/train-accel --version v1.0-synth --out ../$@.part --no-lidar --no-odometry
	mv $@.part $@
selfsup-bag: setup data/bags/train-dr data/bags/train-dr-noodom data/weights/val data/weights/test data/teacher/learned/teacher_manifest.json
	cd training && ../$(PY) -m fsmde_train.engine.trainer --quiet --config configs/selfsup_bag.yaml
	cd training && for row in $(SELFSUP_ROWS); do ../$(PY) -m fsmde_train.engine.trainer --quiet --config configs/selfsup_bag.yaml configs/selfsup_bag/$$row.yaml; done
	cd training && ../$(PY) -m fsmde_train.eval.cli --run runs/selfsup_bag/spatial $(foreach r,$(SELFSUP_ROWS),runs/selfsup_bag/$(r)) --names spatial $(SELFSUP_ROWS) --data-root ../data/weights/test --sweeps --gt dense --out results/selfsup_bag_test
	cd training && ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/pose_net --data-root ../data/weights/test --refine --out results/selfsup_bag_test/pose_net.json
	cd training && ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/pose_net_pyramid --data-root ../data/weights/test --refine --out results/selfsup_bag_test/pose_net_pyramid.json
	cd training && for r in pose_net_depth pose_net_depth_difference; do for it in 1 2; do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/test --iterations $$it --out results/selfsup_bag_test/$${r}_it$$it.json; done; done
	cd training && for r in pose_net_depth_2pass pose_net_depth_2pass_strides pose_net_depth_2pass_stagger; do for w in val test; do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/$$w --out results/selfsup_bag_test/$${r}_$$w.json; done; done

# Issue 14's must-show on two fresh worlds, fixed before they were evaluated (training/results/selfsup_bag_pose_fresh/
# PLAN.md): the validation world's settings with a new seed (street, in-distribution) and the test world's with a new
# seed (boulevard, a layout no training world has). Needs make selfsup-bag's runs; adds the second seeds of pyramid_8k
# and pose_net_depth_2pass. CPU: ~2 min each world, ~85 and ~60 min the second seeds, minutes the evaluations.
FRESH := data/weights/fresh300 data/weights/holdout600
data/weights/fresh300: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 300 && mv $@.part $@
data/weights/holdout600: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 600 --layout boulevard && mv $@.part $@
training/runs/selfsup_bag/pyramid_8k_seed1/result.json: | setup data/bags/train-dr data/weights/val
	cd training && ../$(PY) -m fsmde_train.engine.trainer --quiet --config configs/selfsup_bag.yaml configs/selfsup_bag/pyramid_8k.yaml --set seed=1 out_dir=runs/selfsup_bag/pyramid_8k_seed1
training/runs/selfsup_bag/pose_net_depth_2pass_seed1/result.json: | setup data/bags/train-dr-noodom data/weights/val
	cd training && ../$(PY) -m fsmde_train.engine.trainer --quiet --config configs/selfsup_bag.yaml configs/selfsup_bag/pose_net_depth_2pass.yaml --set seed=1 out_dir=runs/selfsup_bag/pose_net_depth_2pass_seed1
selfsup-fresh: setup $(FRESH) training/runs/selfsup_bag/pyramid_8k_seed1/result.json training/runs/selfsup_bag/pose_net_depth_2pass_seed1/result.json
	cd training && for w in fresh300 holdout600; do ../$(PY) -m fsmde_train.eval.cli --run runs/selfsup_bag/pyramid_8k runs/selfsup_bag/pyramid_8k_seed1 --names pyramid_8k pyramid_8k_seed1 --data-root ../data/weights/$$w $$([ $$w = holdout600 ] && echo --sweeps) --gt dense --out results/selfsup_bag_pose_fresh/depth_$$w; for r in pyramid_8k pyramid_8k_seed1; do ../$(PY) -m fsmde_train.eval.scale_ratio --run runs/selfsup_bag/$$r --data-root ../data/weights/$$w; done; for r in pose_net_depth_2pass pose_net_depth_2pass_seed1 pose_net_depth_2pass_seq pose_net_depth_2pass_seq_jitter; do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/$$w --out results/selfsup_bag_pose_fresh/$${r}_$$w.json; done; done

# The pose network on a bag whose scenes change speed (training/results/selfsup_bag_pose_accel/PLAN.md, fixed before
# the runs): pose_net_depth_2pass on train-accel, two seeds, against the old row's two seeds on a fresh street world
# (seed 301), then fresh300, holdout600, val and test, and the stride-2 check (does it read the flow's size?).
# CPU: ~4 min the world, ~1.3 h the two runs side by side on 2 cores, ~1.5 min an evaluation.
ACCEL_RUNS := pose_net_depth_2pass_accel pose_net_depth_2pass_accel_seed1
data/weights/fresh301: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 301 && mv $@.part $@
# $(call SEED_RUNS,ROW,DATA): seeds 0 and 1 of configs/selfsup_bag/ROW.yaml (runs/selfsup_bag/ROW, ROW_seed1)
define SEED_RUNS
training/runs/selfsup_bag/$(1)/result.json: | setup $(2)
	cd training && ../$$(PY) -m fsmde_train.engine.trainer --quiet --config configs/selfsup_bag.yaml configs/selfsup_bag/$(1).yaml
training/runs/selfsup_bag/$(1)_seed1/result.json: | setup $(2)
	cd training && ../$$(PY) -m fsmde_train.engine.trainer --quiet --config configs/selfsup_bag.yaml configs/selfsup_bag/$(1).yaml --set seed=1 out_dir=runs/selfsup_bag/$(1)_seed1
endef
$(eval $(call SEED_RUNS,pose_net_depth_2pass_accel,data/bags/train-accel-noodom data/weights/val))
# The same runs' single-pass stage (step 4000, before the second pass starts; optim.stop_at keeps the 5000-step
# schedule), scored with one pass on another fresh world (seed 302): the plan's second try.
data/weights/fresh302: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 302 && mv $@.part $@
training/runs/selfsup_bag/pose_net_depth_2pass_accel_stage1/result.json: | setup data/bags/train-accel-noodom data/weights/val
	cd training && ../$(PY) -m fsmde_train.engine.trainer --quiet --config configs/selfsup_bag.yaml configs/selfsup_bag/pose_net_depth_2pass_accel.yaml --set optim.stop_at=4000 out_dir=runs/selfsup_bag/pose_net_depth_2pass_accel_stage1
training/runs/selfsup_bag/pose_net_depth_2pass_accel_stage1_seed1/result.json: | setup data/bags/train-accel-noodom data/weights/val
	cd training && ../$(PY) -m fsmde_train.engine.trainer --quiet --config configs/selfsup_bag.yaml configs/selfsup_bag/pose_net_depth_2pass_accel.yaml --set optim.stop_at=4000 seed=1 out_dir=runs/selfsup_bag/pose_net_depth_2pass_accel_stage1_seed1
STAGE1_RUNS := pose_net_depth_2pass_accel_stage1 pose_net_depth_2pass_accel_stage1_seed1
selfsup-accel: setup $(FRESH) data/weights/fresh301 data/weights/fresh302 $(foreach r,$(ACCEL_RUNS) $(STAGE1_RUNS),training/runs/selfsup_bag/$(r)/result.json) training/runs/selfsup_bag/pose_net_depth_2pass_seed1/result.json
	cd training && for w in fresh301 fresh300 holdout600 val test; do for r in pose_net_depth_2pass pose_net_depth_2pass_seed1 $(ACCEL_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/$$w --out results/selfsup_bag_pose_accel/$${r}_$$w.json; done; done
	cd training && for r in pose_net_depth_2pass pose_net_depth_2pass_seed1 $(ACCEL_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh300 --stride 2 --out results/selfsup_bag_pose_accel/$${r}_fresh300_stride2.json; done
	cd training && for r in $(STAGE1_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh302 --iterations 1 --out results/selfsup_bag_pose_accel/$${r}_fresh302.json; for k in 1 2; do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh300 --iterations 1 --stride $$k --out results/selfsup_bag_pose_accel/$${r}_fresh300_stride$$k.json; done; done

# The motion-composition term (training/results/selfsup_bag_pose_compose/PLAN.md, fixed before the runs):
# pose_net_depth_2pass plus pose_composition, two seeds, against the old row's two seeds on a fresh street world
# (seed 303), and the stride-2 check on fresh300. CPU: ~2 min the world, ~1.7 h the two runs side by side on 2 cores.
COMPOSE_RUNS := pose_net_depth_2pass_compose pose_net_depth_2pass_compose_seed1
data/weights/fresh303: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 303 && mv $@.part $@
$(eval $(call SEED_RUNS,pose_net_depth_2pass_compose,data/bags/train-dr-noodom data/weights/val))
selfsup-compose: setup $(FRESH) data/weights/fresh303 $(foreach r,$(COMPOSE_RUNS),training/runs/selfsup_bag/$(r)/result.json) training/runs/selfsup_bag/pose_net_depth_2pass_seed1/result.json
	cd training && for r in pose_net_depth_2pass pose_net_depth_2pass_seed1 $(COMPOSE_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh303 --out results/selfsup_bag_pose_compose/$${r}_fresh303.json; done
	cd training && for r in $(COMPOSE_RUNS); do for k in 1 2; do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh300 --stride $$k --out results/selfsup_bag_pose_compose/$${r}_fresh300_stride$$k.json; done; done

# The composition term from step 3000 (training/results/selfsup_bag_pose_compose_late/PLAN.md, fixed before the runs):
# two seeds on a fresh street world (seed 304), then the stride-2 response on fresh300 (information). CPU: ~1.5 min a
# world, ~1.8-3 h the two runs side by side on 2 cores (0.5-0.8 steps/s each, by machine), ~1.5 min an evaluation.
LATE_RUNS := pose_net_depth_2pass_compose_late pose_net_depth_2pass_compose_late_seed1
data/weights/fresh304: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 304 && mv $@.part $@
$(eval $(call SEED_RUNS,pose_net_depth_2pass_compose_late,data/bags/train-dr-noodom data/weights/val))
selfsup-compose-late: setup data/weights/fresh304 data/weights/fresh300 $(foreach r,$(LATE_RUNS),training/runs/selfsup_bag/$(r)/result.json)
	cd training && for r in $(LATE_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh304 --out results/selfsup_bag_pose_compose_late/$${r}_fresh304.json; done
	cd training && for r in $(LATE_RUNS); do for k in 1 2; do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh300 --stride $$k --out results/selfsup_bag_pose_compose_late/$${r}_fresh300_stride$$k.json; done; done

# The pose network trained toward its own refined motion (training/results/selfsup_bag_pose_selftrain/PLAN.md, fixed
# before the runs): the two compose_late runs each continued by fsmde-pose-selftrain, decided on a fresh street world
# (seed 305); the runs before the stage on fresh305/306 (information). CPU: ~2 min a world, ~45 min labels + ~13 min fit a seed (two seeds side by side on 2 cores).
SELFTRAIN_RUNS := pose_net_depth_2pass_compose_late_selftrain pose_net_depth_2pass_compose_late_seed1_selftrain
data/weights/fresh305: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 305 && mv $@.part $@
training/runs/selfsup_bag/%_selftrain/result.json: training/runs/selfsup_bag/%/result.json
	cd training && ../$(PY) -m fsmde_train.engine.pose_selftrain --run runs/selfsup_bag/$* --out runs/selfsup_bag/$*_selftrain
selfsup-selftrain: setup data/weights/fresh305 data/weights/fresh306 $(foreach r,$(SELFTRAIN_RUNS),training/runs/selfsup_bag/$(r)/result.json)
	cd training && for r in $(SELFTRAIN_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh305 --out results/selfsup_bag_pose_selftrain/$${r}_fresh305.json; done
	cd training && for w in fresh305 fresh306; do for r in $(LATE_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/$$w --out results/selfsup_bag_pose_selftrain/$${r}_before_$$w.json; done; done

# Its second try (same PLAN.md): the same labels, the fit with every pass pulled toward them, decided on seed 306.
SELFTRAIN_PW_RUNS := $(SELFTRAIN_RUNS:%=%_pw)
data/weights/fresh306: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 306 && mv $@.part $@
training/runs/selfsup_bag/%_selftrain_pw/result.json: training/runs/selfsup_bag/%_selftrain/result.json
	cd training && ../$(PY) -m fsmde_train.engine.pose_selftrain --run runs/selfsup_bag/$* --out runs/selfsup_bag/$*_selftrain_pw --labels runs/selfsup_bag/$*_selftrain/labels.pt --set pass_weight=0.8
selfsup-selftrain-pw: setup data/weights/fresh306 $(foreach r,$(SELFTRAIN_PW_RUNS),training/runs/selfsup_bag/$(r)/result.json)
	cd training && for r in $(SELFTRAIN_PW_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh306 --out results/selfsup_bag_pose_selftrain/$${r}_fresh306.json; done

# Its third try (training/results/selfsup_bag_pose_capacity/PLAN.md, fixed before the runs): the same labels, a new
# one-pass pose network with a correlation volume fitted to them from scratch, decided on seed 307; then (information)
# the second try's networks and seed 1's refinement on the same world. CPU: ~2 min the world, ~45 min the two fits
# side by side on 2 cores, ~1.5 min an evaluation, ~13 min the refinement.
SELFTRAIN_CORR_RUNS := $(SELFTRAIN_RUNS:%=%_corr)
data/weights/fresh307: | setup
	$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 307 && mv $@.part $@
training/runs/selfsup_bag/%_selftrain_corr/result.json: training/runs/selfsup_bag/%_selftrain/result.json
	cd training && ../$(PY) -m fsmde_train.engine.pose_selftrain --run runs/selfsup_bag/$* --out runs/selfsup_bag/$*_selftrain_corr --labels runs/selfsup_bag/$*_selftrain/labels.pt --set fresh_network=true correlation=3 steps=1500 batch_triples=4 lr=0.0003 warmup_steps=50 seed=$(if $(findstring seed1,$*),1,0)
selfsup-selftrain-corr: setup data/weights/fresh307 $(foreach r,$(SELFTRAIN_CORR_RUNS),training/runs/selfsup_bag/$(r)/result.json)
	cd training && for r in $(SELFTRAIN_CORR_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh307 --out results/selfsup_bag_pose_capacity/$${r}_fresh307.json; done
	cd training && for r in $(SELFTRAIN_PW_RUNS); do ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/$$r --data-root ../data/weights/fresh307 --out results/selfsup_bag_pose_capacity/$${r}_fresh307.json; done
	cd training && ../$(PY) -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/pose_net_depth_2pass_compose_late_seed1 --data-root ../data/weights/fresh307 --refine --out results/selfsup_bag_pose_capacity/pose_net_depth_2pass_compose_late_seed1_refine_fresh307.json

# The shipped model on the real frames of ../shared/real (evaluation only; see its README): metrics against projected
# LiDAR beside the constant and flat-ground references, mosaics and error vs distance under out/eval_real.
REAL ?= ../shared/real
eval-real: setup
	$(VENV)/bin/fsmde-eval --model models/fsmde_student --real $(REAL) --out $(OUT)/eval_real

test: setup
	$(PY) -m pytest -q -p no:cacheprovider training/tests test

# Speed tables (CPU here; BENCHMARKS.md has the full runs and the GPU ones): well under 10 minutes.
bench: setup
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(OUT) .pytest_cache build install log

distclean: clean
	rm -rf $(VENV)
