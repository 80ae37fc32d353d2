# Reference values for evidence.vcalc beyond one constant correlation (issue 13): metafor's
# vcalc() with construct types, observations, subgroups, time points with an
# autocorrelation, and contrasts that share a condition (with and without group sizes).
# The designs are synthetic (written out below; no effect sizes are needed, only the
# sampling variances, which are made up as 0.01 * row number); vcalc is a closed form, so no
# convergence control applies.
#   Rscript tests/reference/make_vcalc.R     # writes tests/reference/vcalc.json
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

d <- data.frame(
  study    = c(1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3),
  sub      = c(1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1),
  type     = c("dep", "dep", "anx", "anx", "dep", "anx", "dep", "dep", "dep", "dep", "anx", "dep", "anx"),
  obs      = c("bdi", "hdrs", "stai", "stai", "bdi", "stai", "bdi", "bdi", "bdi", "bdi", "stai", "bdi", "stai"),
  time     = c(0, 0, 0, 2, 0, 0, 0, 1, 3, 0, 0, 6, 6),
  grp1     = c("a", "a", "a", "a", "a", "a", "t1", "t2", "t3", "a", "a", "a", "a"),
  grp2     = c("c", "c", "c", "c", "c", "c", "c", "c", "c", "c", "c", "c", "c"),
  w1       = c(40, 40, 40, 38, 20, 20, 30, 25, 35, 50, 50, 45, 45),
  w2       = c(42, 42, 42, 41, 22, 22, 60, 60, 60, 48, 48, 44, 44),
  stringsAsFactors = FALSE)
d$vi <- 0.01 * seq_len(nrow(d))
# within-subjects contrasts: time points 1 and 2 against baseline 0 in one group
w <- data.frame(study = c(1, 1, 2, 2), grp1 = c("g", "g", "g", "g"), grp2 = c("g", "g", "g", "g"),
                time1 = c(1, 2, 1, 3), time2 = c(0, 0, 0, 0), vi = c(0.02, 0.03, 0.04, 0.05))

dense <- function(V) unname(as.matrix(V))
cases <- list(
  type_obs = list(call = "vcalc(vi, cluster=study, type=type, obs=obs, rho=c(0.7, 0.4), data=d)",
                  args = list(type = "type", obs = "obs", rho = c(0.7, 0.4)),
                  V = dense(vcalc(vi, cluster = study, type = type, obs = obs, rho = c(0.7, 0.4), data = d))),
  type_only = list(call = "vcalc(vi, cluster=study, type=type, rho=0.5, data=d)",
                   args = list(type = "type", rho = 0.5),
                   V = dense(vcalc(vi, cluster = study, type = type, rho = 0.5, data = d))),
  subgroup_obs = list(call = "vcalc(vi, cluster=study, subgroup=sub, obs=obs, rho=0.6, data=d)",
                      args = list(subgroup = "sub", obs = "obs", rho = 0.6),
                      V = dense(vcalc(vi, cluster = study, subgroup = sub, obs = obs, rho = 0.6, data = d))),
  time_phi = list(call = "vcalc(vi, cluster=study, time1=time, phi=0.8, data=d)",
                  args = list(time1 = "time", phi = 0.8),
                  V = dense(vcalc(vi, cluster = study, time1 = time, phi = 0.8, data = d))),
  type_obs_time = list(call = "vcalc(vi, cluster=study, type=type, obs=obs, time1=time, rho=c(0.7, 0.4), phi=0.9, data=d)",
                       args = list(type = "type", obs = "obs", time1 = "time", rho = c(0.7, 0.4), phi = 0.9),
                       V = dense(vcalc(vi, cluster = study, type = type, obs = obs, time1 = time,
                                       rho = c(0.7, 0.4), phi = 0.9, data = d))),
  shared_control = list(call = "vcalc(vi, cluster=study, grp1=grp1, grp2=grp2, data=d)",
                        args = list(grp1 = "grp1", grp2 = "grp2"),
                        V = dense(vcalc(vi, cluster = study, grp1 = grp1, grp2 = grp2, data = d))),
  shared_control_w = list(call = "vcalc(vi, cluster=study, grp1=grp1, grp2=grp2, w1=w1, w2=w2, data=d)",
                          args = list(grp1 = "grp1", grp2 = "grp2", w1 = "w1", w2 = "w2"),
                          V = dense(vcalc(vi, cluster = study, grp1 = grp1, grp2 = grp2, w1 = w1, w2 = w2, data = d))),
  shared_control_type_obs = list(call = "vcalc(vi, cluster=study, type=type, obs=obs, grp1=grp1, grp2=grp2, w1=w1, w2=w2, rho=c(0.7, 0.4), data=d)",
                                 args = list(type = "type", obs = "obs", grp1 = "grp1", grp2 = "grp2",
                                             w1 = "w1", w2 = "w2", rho = c(0.7, 0.4)),
                                 V = dense(vcalc(vi, cluster = study, type = type, obs = obs, grp1 = grp1,
                                                 grp2 = grp2, w1 = w1, w2 = w2, rho = c(0.7, 0.4), data = d))),
  within_subjects = list(call = "vcalc(vi, cluster=study, grp1=grp1, grp2=grp2, time1=time1, time2=time2, phi=0.6, data=w)",
                         data = "w", args = list(grp1 = "grp1", grp2 = "grp2", time1 = "time1",
                                                 time2 = "time2", phi = 0.6),
                         V = dense(vcalc(vi, cluster = study, grp1 = grp1, grp2 = grp2, time1 = time1,
                                         time2 = time2, phi = 0.6, data = w)))
)
out <- list(
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  metafor = as.character(packageVersion("metafor")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  note = "synthetic designs (no effect sizes); vi = 0.01 * row number",
  data = list(d = d, w = w),
  cases = cases)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"),
           "tests/reference/vcalc.json")
cat("wrote tests/reference/vcalc.json:", length(cases), "cases\n")
