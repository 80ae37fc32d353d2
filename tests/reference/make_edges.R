# metafor reference values for the numeric edges of issue 11 item 6 (tests/test_numeric_edges.py):
# k = 2 and equal effects in the analyses around a fit (leave-one-out, cumulative, influence,
# regtest, trim-and-fill, meta-regression), a saturated fixed-effects meta-regression (k = p),
# COR with ri = +-1, and rma() on data far from unit scale.
#
#   Rscript tests/reference/make_edges.R
#
# Tight convergence control, as the other fixtures: rma(..., control=list(threshold=1e-12,
# maxiter=10000, tol=1e-14)). Reads k2 and identical from datasets.json (make_reference.R);
# the synthetic 'edge6' data and the scaled data are defined below. Writes edges.json next
# to this script. Needs r-cran-metafor, r-cran-metadat, r-cran-jsonlite (Debian 12: R 4.2.2,
# metafor 3.8-1).
#
# Scale cases: only FE and DL (closed forms) are recorded at the 2^-500 / 2^-1000 scale:
# metafor's threshold (and PM's tau2.max = 100) are absolute, so its iterative estimators stop
# at their starting value there (REML gives tau2 = 0.0344 * 2^-1000 instead of 0.0267 *
# 2^-1000). The 'tiny_vi' case (vi ~ 1e-300 with effects ~ 0.1, tau2 / vi ~ 1e298) is
# recorded for FE, DL, REML, ML, PM. metafor stops ("singular matrix 'a' in solve") for
# yi ~ 1e200 with vi ~ 1 (DL, REML), where evidence raises ArgumentError.
# trimfill() on the identical data stops ("did not converge") after emitting R's "NaNs
# produced" warnings (the 50+ warnings the script reports); the error is recorded.

suppressPackageStartupMessages({
  library(metafor)
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
vec <- function(x) I(as.numeric(x))

# synthetic, written out (not data of any study)
edge6 <- list(yi = c(0.12, 0.45, 0.30, 0.71, 0.05, 0.38),
              vi = c(0.010, 0.022, 0.015, 0.040, 0.018, 0.030))
tiny_vi <- list(yi = c(0.1, 0.3, 0.5), vi = c(1, 2, 3) * 1e-300)

fit_fields <- function(r, m = 0) {
  # m: the power-of-two exponent the data were scaled by (results scaled back by 2^m, 4^m)
  list(estimate = as.numeric(r$beta) / 2^m, se = r$se / 2^m, tau2 = r$tau2 / 4^m,
       i2 = r$I2, h2 = r$H2, q = r$QE, q_pvalue = r$QEp, pvalue = r$pval)
}

scale_cases <- list()
for (m in c("FE", "DL")) {
  r <- rma(edge6$yi * 2^-500, edge6$vi * 2^-1000, method = m, control = CTRL)
  scale_cases[[length(scale_cases) + 1L]] <- list(
    data = "edge6", scale_log2 = -500, method = m,
    call = sprintf("rma(yi * 2^-500, vi * 2^-1000, method=\"%s\", %s)", m, CTRL_CALL),
    result = fit_fields(r, -500))
}
for (m in c("FE", "DL", "REML", "ML", "PM")) {
  r <- rma(tiny_vi$yi, tiny_vi$vi, method = m, control = CTRL)
  scale_cases[[length(scale_cases) + 1L]] <- list(
    data = "tiny_vi", scale_log2 = 0, method = m,
    call = sprintf("rma(c(0.1, 0.3, 0.5), c(1, 2, 3) * 1e-300, method=\"%s\", %s)", m, CTRL_CALL),
    result = fit_fields(r))
}

k2 <- ds$k2
idn <- ds$identical
fit_k2 <- rma(k2$yi, k2$vi, method = "REML", control = CTRL)
fit_id <- rma(idn$yi, idn$vi, method = "REML", control = CTRL)

l1 <- function(fit, data) {
  x <- leave1out(fit)
  list(data = data, call = sprintf("leave1out(rma(yi, vi, method=\"REML\", %s))", CTRL_CALL),
       estimate = vec(x$estimate), se = vec(x$se), tau2 = vec(x$tau2), q = vec(x$Q),
       i2 = vec(x$I2), h2 = vec(x$H2))
}
cu <- cumul(fit_id)
inf <- influence(fit_id)$inf
rt <- regtest(fit_id)
tf_error <- tryCatch({ trimfill(fit_id); NA_character_ }, error = function(e) conditionMessage(e))
x6 <- seq_len(6)
mr_id <- rma(idn$yi, idn$vi, mods = ~ x6, method = "REML", control = CTRL)
x2 <- c(0, 1)
mr_sat <- rma(k2$yi, k2$vi, mods = ~ x2, method = "FE", control = CTRL)
es <- escalc("COR", ri = c(1, -1, 0.5), ni = c(10, 20, 30))

out <- list(
  versions = versions,
  control = list(rma = CTRL, rma_call = CTRL_CALL),
  data = list(edge6 = list(source = "synthetic, written out in make_edges.R",
                           yi = vec(edge6$yi), vi = vec(edge6$vi)),
              tiny_vi = list(source = "synthetic: yi = c(0.1, 0.3, 0.5), vi = c(1, 2, 3) * 1e-300",
                             yi = vec(tiny_vi$yi), vi = vec(tiny_vi$vi))),
  scale = scale_cases,
  leave_one_out = list(l1(fit_k2, "k2"), l1(fit_id, "identical")),
  cumulative = list(data = "identical",
                    call = sprintf("cumul(rma(yi, vi, method=\"REML\", %s))", CTRL_CALL),
                    estimate = vec(cu$estimate), se = vec(cu$se), tau2 = vec(cu$tau2),
                    q = vec(cu$Q)),
  influence = list(data = "identical",
                   call = sprintf("influence(rma(yi, vi, method=\"REML\", %s))$inf", CTRL_CALL),
                   rstudent = vec(inf$rstudent), dffits = vec(inf$dffits),
                   cooks = vec(inf$cook.d), cov_r = vec(inf$cov.r), hat = vec(inf$hat)),
  regtest = list(data = "identical",
                 call = sprintf("regtest(rma(yi, vi, method=\"REML\", %s))", CTRL_CALL),
                 stat = rt$zval, pvalue = rt$pval, estimate = as.numeric(rt$est)),
  trimfill = list(data = "identical",
                  call = sprintf("trimfill(rma(yi, vi, method=\"REML\", %s))", CTRL_CALL),
                  error = tf_error,
                  note = "metafor stops: the centred effects are rounding noise (+-1e-17), whose signed ranks change every iteration; evidence centres them at exactly 0 and gives k0 = 0"),
  metareg_identical = list(data = "identical", x = vec(x6),
                           call = sprintf("rma(yi, vi, mods = ~ x, method=\"REML\", %s), x = 1:6",
                                          CTRL_CALL),
                           estimate = vec(mr_id$beta), se = vec(mr_id$se), tau2 = mr_id$tau2,
                           qe = mr_id$QE),
  metareg_saturated_fe = list(data = "k2", x = vec(x2),
                              call = sprintf("rma(yi, vi, mods = ~ x, method=\"FE\", %s), x = c(0, 1)",
                                             CTRL_CALL),
                              estimate = vec(mr_sat$beta), se = vec(mr_sat$se),
                              stat = vec(mr_sat$zval), pvalue = vec(mr_sat$pval),
                              qe = mr_sat$QE, qe_pvalue = mr_sat$QEp, i2 = mr_sat$I2,
                              h2 = mr_sat$H2, qm = mr_sat$QM, qm_pvalue = mr_sat$QMp,
                              note = "rma(..., method=\"REML\") stops: 'Number of parameters to be estimated is larger than the number of observations.'"),
  escalc_cor = list(call = "escalc(\"COR\", ri = c(1, -1, 0.5), ni = c(10, 20, 30))",
                    ri = vec(c(1, -1, 0.5)), ni = vec(c(10, 20, 30)),
                    yi = vec(es$yi), vi = vec(es$vi))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(out_dir, "edges.json"))
