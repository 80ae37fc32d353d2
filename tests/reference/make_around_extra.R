# Extra metafor reference values for the analyses around a fit (evidence.meta.metareg,
# subgroup, sensitivity, bias) that around.json does not cover: every tau2 estimator in
# meta-regression, factor moderators, models without intercept, regtest with other
# predictors and knha, trim-and-fill with R0 / a given side / DL, leave-one-out with knha,
# influence with ML/PM, subgroups with knha.
#
#   Rscript tests/reference/make_around_extra.R
#
# Reads the data from datasets.json (written by make_reference.R) so both files use the very
# same numbers; sample sizes for the n-based regtest predictors come from metadat::dat.bcg.
# Writes around_extra.json next to this script. Needs r-cran-metafor, r-cran-metadat,
# r-cran-jsonlite (R 4.2.2, metafor 3.8-1 on Debian 12).

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script) == 1L) dirname(normalizePath(script)) else "tests/reference"

versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  metafor = packageDescription("metafor")$Version,
  metadat = packageDescription("metadat")$Version,
  jsonlite = packageDescription("jsonlite")$Version
)
CTRL <- list(threshold = 1e-12, maxiter = 10000L, tol = 1e-14)
CTRL_CALL <- "control=list(threshold=1e-12, maxiter=10000, tol=1e-14)"

ds <- fromJSON(file.path(out_dir, "datasets.json"), simplifyVector = TRUE)$datasets
num <- function(x) if (is.null(x) || length(x) == 0L) NA_real_ else as.numeric(x)[1]
vec <- function(x) I(as.numeric(x))

frame_of <- function(name) {
  d <- ds[[name]]
  out <- data.frame(yi = d$yi, vi = d$vi)
  for (m in names(d$moderators)) out[[m]] <- d$moderators[[m]]
  for (g in names(d$groups)) out[[g]] <- d$groups[[g]]
  out
}

coef_table <- function(res) {
  lapply(seq_along(res$beta), function(j) list(
    term = rownames(res$beta)[j], estimate = num(res$beta[j]), se = num(res$se[j]),
    stat = num(res$zval[j]), pvalue = num(res$pval[j]), ci_low = num(res$ci.lb[j]),
    ci_high = num(res$ci.ub[j])
  ))
}

# ---------------------------------------------------------------------------------------------
# meta-regression: every estimator x test, numeric and factor moderators, no intercept
# ---------------------------------------------------------------------------------------------
metareg <- list()
specs <- list(
  list(dataset = "bcg", mods = "~ablat"),
  list(dataset = "bcg", mods = "~ablat + year"),
  list(dataset = "raudenbush1985", mods = "~weeks"),
  list(dataset = "synthetic25", mods = "~x"),
  list(dataset = "bcg", mods = "~factor(alloc)"),
  list(dataset = "bcg", mods = "~ablat + factor(alloc)"),
  list(dataset = "bcg", mods = "~factor(alloc) - 1")
)
methods <- c("FE", "EE", "DL", "REML", "ML", "PM", "HE", "SJ", "HS", "EB")
for (s in specs) for (m in methods) for (tst in c("z", "knha")) {
  dat <- frame_of(s$dataset)
  res <- rma(yi, vi, mods = as.formula(s$mods), data = dat, method = m, test = tst,
             control = CTRL)
  metareg[[length(metareg) + 1L]] <- list(
    dataset = s$dataset, mods = s$mods, method = m, test = tst,
    call = sprintf("rma(yi, vi, mods=%s, method=\"%s\", test=\"%s\", %s)", s$mods, m, tst,
                   CTRL_CALL),
    coefficients = coef_table(res),
    tau2 = num(res$tau2), qm = num(res$QM), qm_df = vec(res$QMdf[!is.na(res$QMdf)]),
    qm_pvalue = num(res$QMp), qe = num(res$QE), qe_df = res$k - res$p,
    qe_pvalue = num(res$QEp), r2 = num(res$R2), i2 = num(res$I2), h2 = num(res$H2)
  )
}

# ---------------------------------------------------------------------------------------------
# regtest: other predictors, knha, other methods
# ---------------------------------------------------------------------------------------------
bcg_n <- with(dat.bcg, tpos + tneg + cpos + cneg)
regtest_cases <- list()
for (pr in c("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")) for (mdl in c("rma", "lm"))
  for (m in c("REML", "DL")) for (tst in c("z", "knha")) {
    if (mdl == "lm" && tst == "knha") next
    dat <- frame_of("bcg")
    res <- rma(yi, vi, data = dat, method = m, test = tst, control = CTRL)
    rt <- if (pr %in% c("sei", "vi")) regtest(res, model = mdl, predictor = pr) else
      regtest(res, model = mdl, predictor = pr, ni = bcg_n)
    regtest_cases[[length(regtest_cases) + 1L]] <- list(
      dataset = "bcg", method = m, test = tst, model = mdl, predictor = pr,
      ni = if (pr %in% c("sei", "vi")) NULL else vec(bcg_n),
      call = sprintf("regtest(rma(yi, vi, method=\"%s\", test=\"%s\"), model=\"%s\", predictor=\"%s\"%s)",
                     m, tst, mdl, pr, if (pr %in% c("sei", "vi")) "" else ", ni=tpos+tneg+cpos+cneg"),
      stat = num(rt$zval), pvalue = num(rt$pval), df = num(rt$dfs),
      limit_estimate = num(rt$est), limit_ci_low = num(rt$ci.lb), limit_ci_high = num(rt$ci.ub)
    )
  }

# ---------------------------------------------------------------------------------------------
# trim and fill: R0, a given side, DL / ML / PM
# ---------------------------------------------------------------------------------------------
trimfill_cases <- list()
tf_specs <- list(
  list(dataset = "bcg", method = "REML", estimator = "R0", side = NULL),
  list(dataset = "bcg", method = "DL", estimator = "L0", side = NULL),
  list(dataset = "bcg", method = "REML", estimator = "L0", side = "left"),
  list(dataset = "hackshaw1998", method = "REML", estimator = "R0", side = NULL),
  list(dataset = "hackshaw1998", method = "DL", estimator = "L0", side = NULL),
  list(dataset = "hackshaw1998", method = "ML", estimator = "L0", side = NULL),
  list(dataset = "molloy2014", method = "PM", estimator = "L0", side = NULL),
  list(dataset = "molloy2014", method = "FE", estimator = "R0", side = NULL),
  list(dataset = "normand1999", method = "DL", estimator = "R0", side = NULL)
)
for (s in tf_specs) {
  dat <- frame_of(s$dataset)
  res <- rma(yi, vi, data = dat, method = s$method, control = CTRL)
  tf <- if (is.null(s$side)) trimfill(res, estimator = s$estimator) else
    trimfill(res, estimator = s$estimator, side = s$side)
  trimfill_cases[[length(trimfill_cases) + 1L]] <- list(
    dataset = s$dataset, method = s$method, estimator = s$estimator,
    side_given = if (is.null(s$side)) NULL else s$side,
    call = sprintf("trimfill(rma(yi, vi, method=\"%s\", %s), estimator=\"%s\"%s)", s$method,
                   CTRL_CALL, s$estimator, if (is.null(s$side)) "" else sprintf(", side=\"%s\"", s$side)),
    note = "metafor refits the trimmed and filled data with its default control (threshold 1e-5, maxiter 100), except when k0 = 0 (then the model itself is returned)",
    k0 = num(tf$k0), k0_se = num(tf$se.k0), side = tf$side, k = tf$k,
    estimate = num(tf$beta), se = num(tf$se), ci_low = num(tf$ci.lb), ci_high = num(tf$ci.ub),
    pvalue = num(tf$pval), tau2 = num(tf$tau2),
    filled_yi = vec(tf$yi[tf$fill]), filled_vi = vec(tf$vi[tf$fill])
  )
}

# ---------------------------------------------------------------------------------------------
# leave-one-out with knha and other estimators; influence with ML / PM
# ---------------------------------------------------------------------------------------------
loo_cases <- list()
for (m in c("REML", "PM", "ML")) for (tst in c("z", "knha")) {
  dat <- frame_of("molloy2014")
  res <- rma(yi, vi, data = dat, method = m, test = tst, control = CTRL)
  l1 <- leave1out(res)
  loo_cases[[length(loo_cases) + 1L]] <- list(
    dataset = "molloy2014", method = m, test = tst,
    call = sprintf("leave1out(rma(yi, vi, method=\"%s\", test=\"%s\", %s))", m, tst, CTRL_CALL),
    estimate = vec(l1$estimate), se = vec(l1$se), stat = vec(l1$zval), pvalue = vec(l1$pval),
    ci_low = vec(l1$ci.lb), ci_high = vec(l1$ci.ub), q = vec(l1$Q), q_pvalue = vec(l1$Qp),
    tau2 = vec(l1$tau2), i2 = vec(l1$I2), h2 = vec(l1$H2)
  )
}
infl_cases <- list()
for (nm in c("molloy2014", "raudenbush1985")) for (m in c("ML", "PM")) {
  dat <- frame_of(nm)
  res <- rma(yi, vi, data = dat, method = m, control = CTRL)
  inf <- influence(res)
  infl_cases[[length(infl_cases) + 1L]] <- list(
    dataset = nm, method = m,
    call = sprintf("influence(rma(yi, vi, method=\"%s\", %s))", m, CTRL_CALL),
    rstudent = vec(inf$inf$rstudent), dffits = vec(inf$inf$dffits),
    cooks = vec(inf$inf$cook.d), cov_r = vec(inf$inf$cov.r), tau2_del = vec(inf$inf$tau2.del),
    qe_del = vec(inf$inf$QE.del), hat = vec(inf$inf$hat), weight = vec(inf$inf$weight / 100),
    dfbetas = vec(inf$dfbs$intrcpt), influential = I(as.logical(inf$inf$inf == "*"))
  )
}

# ---------------------------------------------------------------------------------------------
# subgroups with a common tau2 and knha
# ---------------------------------------------------------------------------------------------
subgroup_cases <- list()
for (m in c("REML", "DL")) {
  dat <- frame_of("bcg")
  res <- rma(yi, vi, mods = ~factor(alloc), data = dat, method = m, test = "knha", control = CTRL)
  cells <- rma(yi, vi, mods = ~factor(alloc) - 1, data = dat, method = m, test = "knha",
               control = CTRL)
  subgroup_cases[[length(subgroup_cases) + 1L]] <- list(
    dataset = "bcg", by = "alloc", method = m, test = "knha", tau2_mode = "common",
    call = sprintf("rma(yi, vi, mods=~factor(alloc), method=\"%s\", test=\"knha\", %s); group estimates from mods=~factor(alloc)-1", m, CTRL_CALL),
    groups = lapply(seq_along(cells$beta), function(j) list(
      estimate = num(cells$beta[j]), se = num(cells$se[j]), ci_low = num(cells$ci.lb[j]),
      ci_high = num(cells$ci.ub[j]), stat = num(cells$zval[j]), pvalue = num(cells$pval[j]))),
    tau2 = num(res$tau2), q_between = num(res$QM), q_between_df = vec(res$QMdf),
    q_between_pvalue = num(res$QMp)
  )
}

txt <- toJSON(list(versions = versions, control = CTRL, metareg = metareg,
                   regtest = regtest_cases, trimfill = trimfill_cases,
                   leave_one_out = loo_cases, influence = infl_cases,
                   subgroup = subgroup_cases),
              digits = NA, auto_unbox = TRUE, na = "null", null = "null", pretty = TRUE)
writeLines(txt, file.path(out_dir, "around_extra.json"))
cat("wrote", file.path(out_dir, "around_extra.json"), "\n")
