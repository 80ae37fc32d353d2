# Reference values for multilevel meta-analysis (evidence.meta.multilevel.meta_mv), the
# sampling covariance helper (evidence.effects.vcalc.vcalc) and cluster-robust CR2 inference
# (evidence.meta.robust.robust), from R metafor's rma.mv / vcalc / robust and clubSandwich.
#
#   Rscript tests/reference/make_multilevel.R
#
# Writes multilevel.json next to this script. Needs r-cran-metafor, r-cran-metadat,
# r-cran-clubsandwich, r-cran-jsonlite (R 4.2.2, metafor 3.8-1, clubSandwich 0.5.8 on
# Debian 12).
#
# Convergence: rma.mv is run with the nlminb optimiser at control = list(rel.tol = 1e-12,
# iter.max = 10000, eval.max = 10000) (rel.tol = 1e-14 makes nlminb report false
# convergence). Its sigma2 are then good to ~5e-9 (optim/BFGS, Nelder-Mead, nlm and bobyqa at
# their tightest settings disagree with nlminb by that much: the restricted likelihood is flat
# to 1e-14 around the optimum). Each case therefore also records a refit with sigma2 FIXED at
# the estimates (rma.mv(..., sigma2 = res$sigma2)): everything given sigma2 (coefficients, SEs,
# logLik, fit statistics, QE, CR2 SEs / df / p-values) is then comparable to rounding.
#
# Profile-likelihood CIs of sigma2: confint(res) with default settings gives 4 digits and,
# at the tight control above, fails to find some upper bounds ("convergence problems"). So the
# reference is the definition, computed here with metafor: the values of sigma2_l at which
# 2 (logLik(res) - logLik(rma.mv(..., sigma2 = sigma2_l fixed, others estimated))) equals
# qchisq(level, 1), found by uniroot(tol = 1e-11) on metafor's profile log-likelihood; the
# default confint() values are stored beside them (confint_default) for the record.
#
# Joint tests (evidence.meta.robust.RobustResult.wald_test): clubSandwich's
# Wald_test(fit, constraints = constrain_zero(idx), vcov = "CR2", cluster = ...,
# test = c("HTZ", "chi-sq", "Naive-F", "Naive-Fp")) on the fixed-sigma2 refit (`wald`, with
# `wald_free_fit` on the free fit) of some cases, on the rma.uni fits, and on the extra models
# in `wald_cases` (same layout as `cases`, without profile CIs). `idx` is stored 0-based.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(clubSandwich)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script) == 1L) dirname(normalizePath(script)) else "tests/reference"

versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  metafor = packageDescription("metafor")$Version,
  metadat = packageDescription("metadat")$Version,
  clubSandwich = packageDescription("clubSandwich")$Version,
  jsonlite = packageDescription("jsonlite")$Version
)
CTRL <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 10000)
CTRL_CALL <- "control=list(rel.tol=1e-12, iter.max=10000, eval.max=10000)"
PROFILE_FALLBACK1 <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000)
PROFILE_FALLBACK2 <- list(optimizer = "nlm", gradtol = 1e-12, iterlim = 10000)
num <- function(x) if (is.null(x) || length(x) == 0L) NA_real_ else as.numeric(x)
vec <- function(x) I(as.numeric(x))

# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
k2011 <- dat.konstantopoulos2011
assink <- dat.assink2016
born <- escalc("OR", ai = waward, n1i = wtotal, ci = maward, n2i = mtotal,
               data = dat.bornmann2007)
born <- as.data.frame(born)
born$yi <- as.numeric(born$yi); born$vi <- as.numeric(born$vi)
V_assink <- vcalc(vi, cluster = study, obs = esid, data = assink, rho = 0.6)
# a singular V: effects 1 and 2 of study 1 made perfectly correlated
V_sing <- V_assink
V_sing[1, 2] <- V_sing[2, 1] <- sqrt(V_sing[1, 1] * V_sing[2, 2])
one_cluster <- k2011[k2011$district == 11, ]
# dat.fine1993 (survivors at 6, 12, 18, 24 months, chemotherapy + radiotherapy vs radiotherapy):
# one log odds ratio per study x time point, as the bundled review studies/fine1993 computes
# them (escalc's default: 1/2 added to every cell of a table with a zero cell), with an assumed
# correlation of 0.5 between the sampling errors of one study's time points (vcalc).
fine <- dat.fine1993
fine_long <- do.call(rbind, lapply(1:4, function(j) data.frame(
  study = fine$study, time = c(6, 12, 18, 24)[j], ai = fine[[paste0("e", j, "i")]],
  n1i = fine$nei, ci = fine[[paste0("c", j, "i")]], n2i = fine$nci)))
fine_long <- fine_long[!is.na(fine_long$ai), ]
fine_long <- fine_long[order(fine_long$study, fine_long$time), ]
fine_long <- as.data.frame(escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = fine_long))
fine_long$yi <- as.numeric(fine_long$yi); fine_long$vi <- as.numeric(fine_long$vi)
fine_long$tp <- match(fine_long$time, c(6, 12, 18, 24))  # vcalc reads obs as an index
fine_long$month <- factor(fine_long$time)  # terms named month6 ... month24, as C(month) in Python
rownames(fine_long) <- NULL
V_fine <- vcalc(vi, cluster = study, obs = tp, data = fine_long, rho = 0.5)

# dat.bcg (log risk ratios) clustered by first author: Rosenthal 1960/1961 and the three
# Comstock trials share a cluster (10 clusters for 13 trials).
bcg <- as.data.frame(escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg))
bcg$yi <- as.numeric(bcg$yi); bcg$vi <- as.numeric(bcg$vi)
bcg$first_author <- sub("[ ,&].*$", "", bcg$author)

datasets <- list(
  konstantopoulos2011 = list(
    source = "metadat::dat.konstantopoulos2011 (yi, vi as given)",
    frame = k2011[, c("district", "school", "study", "year", "yi", "vi")]),
  assink2016 = list(
    source = "metadat::dat.assink2016 (yi, vi as given)",
    frame = assink[, c("study", "esid", "id", "yi", "vi", "pubstatus", "year", "deltype")]),
  bornmann2007 = list(
    source = "metadat::dat.bornmann2007 + escalc('OR', ai=waward, n1i=wtotal, ci=maward, n2i=mtotal)",
    frame = born[, c("study", "obs", "type", "country", "yi", "vi")]),
  konstantopoulos2011_district11 = list(
    source = "metadat::dat.konstantopoulos2011, district 11 only (one cluster)",
    frame = one_cluster[, c("district", "school", "yi", "vi")]),
  fine1993 = list(
    source = paste("metadat::dat.fine1993 in long form (study x time in months) +",
                   "escalc('OR', ai=survivors chemo, n1i=nei, ci=survivors control, n2i=nci)"),
    # month is written as a number so that C(month) in Python orders its levels as R's factor
    frame = transform(fine_long, month = time)[, c("study", "time", "month", "ai", "n1i", "ci",
                                                  "n2i", "yi", "vi")]),
  bcg = list(
    source = paste("metadat::dat.bcg + escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg);",
                   "first_author = author up to the first space, comma or '&'"),
    frame = bcg[, c("trial", "author", "first_author", "year", "alloc", "ablat", "yi", "vi")])
)

# V matrices as within-study coordinate lists (0-based), both triangles
coo <- function(V) {
  idx <- which(V != 0, arr.ind = TRUE)
  list(rows = vec(idx[, 1] - 1L), cols = vec(idx[, 2] - 1L), values = vec(V[idx]))
}
matrices <- list(
  assink_rho06 = c(list(call = "vcalc(vi, cluster=study, obs=esid, data=dat.assink2016, rho=0.6)",
                        dataset = "assink2016", rho = 0.6), coo(V_assink)),
  assink_singular = c(list(call = "V <- vcalc(..., rho=0.6); V[1,2] <- V[2,1] <- sqrt(V[1,1]*V[2,2])",
                           dataset = "assink2016", rho = NA), coo(V_sing)),
  fine_rho05 = c(list(call = "vcalc(vi, cluster=study, obs=tp, data=fine1993, rho=0.5)",
                      dataset = "fine1993", rho = 0.5), coo(V_fine))
)

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
coefs <- function(res) lapply(seq_along(res$beta), function(j) list(
  term = rownames(res$beta)[j], estimate = num(res$beta[j]), se = num(res$se[j]),
  stat = num(res$zval[j]), pvalue = num(res$pval[j]), ci_low = num(res$ci.lb[j]),
  ci_high = num(res$ci.ub[j])))

fitstats_of <- function(res) {
  fs <- fitstats(res)
  list(loglik = num(fs[1]), deviance = num(fs[2]), aic = num(fs[3]), bic = num(fs[4]),
       aicc = num(fs[5]))
}

cr2 <- function(res, cluster) {
  ct <- coef_test(res, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  ci <- conf_int(res, vcov = "CR2", cluster = cluster, level = 0.95)
  rb <- robust(res, cluster = cluster, clubSandwich = TRUE)
  list(se = vec(ct$SE), df = vec(ct$df_Satt), stat = vec(ct$tstat), pvalue = vec(ct$p_Satt),
       ci_low = vec(ci$CI_L), ci_high = vec(ci$CI_U),
       metafor_robust_se = vec(rb$se), metafor_robust_df = vec(rb$ddf),
       metafor_robust_pvalue = vec(rb$pval))
}

WALD_TESTS <- c("HTZ", "chi-sq", "Naive-F", "Naive-Fp")
# one entry per constraint set: clubSandwich's Wald_test for each of WALD_TESTS (df_denom of
# chi-sq is Inf, written as null)
wald <- function(res, cluster, sets) lapply(sets, function(idx) {
  w <- Wald_test(res, constraints = constrain_zero(idx), vcov = "CR2", cluster = cluster,
                 test = WALD_TESTS)
  list(terms = vec(idx - 1L), term_names = I(rownames(res$beta)[idx]),
       call = paste0("Wald_test(res, constraints=constrain_zero(", deparse(idx),
                     "), vcov=\"CR2\", cluster=..., test=\"", WALD_TESTS, "\")"),
       tests = lapply(seq_len(nrow(w)), function(i) list(
         test = w$test[i], Fstat = num(w$Fstat[i]), delta = num(w$delta[i]),
         df_num = num(w$df_num[i]),
         df_denom = if (is.finite(w$df_denom[i])) num(w$df_denom[i]) else NA,
         p_val = num(w$p_val[i]))))
})

profile_ci <- function(refit, res, level = 0.95) {
  L <- length(res$sigma2)
  crit <- qchisq(level, 1)
  ll_max <- as.numeric(logLik(res))
  lows <- highs <- rep(NA_real_, L)
  for (l in seq_len(L)) {
    excess <- function(val) {
      s2 <- rep(NA_real_, L); s2[l] <- val
      fit <- refit(s2)
      2 * (ll_max - as.numeric(logLik(fit))) - crit
    }
    s <- res$sigma2[l]
    e0 <- excess(0)
    lows[l] <- if (e0 <= 0) 0 else uniroot(excess, c(0, s), tol = 1e-11)$root
    lo <- s; hi <- max(2 * s, 0.01 * var(res$yi))
    for (i in 1:60) { if (excess(hi) > 0) break; lo <- hi; hi <- 2 * hi }
    highs[l] <- uniroot(excess, c(lo, hi), tol = 1e-11)$root
  }
  list(sigma2_ci_low = vec(lows), sigma2_ci_high = vec(highs))
}

# one case: fit, a refit at fixed sigma2, CR2 of the refit, profile CIs
case <- function(name, dataset, V, random, random_py, mods = NULL, mods_py = NULL,
                 method = "REML", test = "z", cluster = NULL, V_name = "vi", profile = TRUE,
                 data, wald_sets = NULL) {
  fit_at <- function(ctl, s2 = NULL) {
    if (is.null(s2)) s2 <- rep(NA_real_, if (is.list(random)) length(random) else
                                 length(all.vars(random[[2]][[3]])))
    if (is.null(mods)) rma.mv(yi, V, random = random, data = data, method = method,
                              test = test, sigma2 = s2, control = ctl)
    else rma.mv(yi, V, random = random, mods = mods, data = data, method = method,
                test = test, sigma2 = s2, control = ctl)
  }
  cat(name, "\n"); notes <- character(0)
  used <- NA
  for (ctl_name in c("CTRL", "PROFILE_FALLBACK1", "PROFILE_FALLBACK2")) {
    res <- try(withCallingHandlers(fit_at(get(ctl_name)), warning = function(w) {
      notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning")}), silent = TRUE)
    if (!inherits(res, "try-error")) { used <- ctl_name; break }
    notes <- c(notes, paste(ctl_name, "failed:", conditionMessage(attr(res, "condition"))))
  }
  fixed <- withCallingHandlers(
    if (is.null(mods)) rma.mv(yi, V, random = random, data = data, method = method, test = test,
                              sigma2 = res$sigma2)
    else rma.mv(yi, V, random = random, mods = mods, data = data, method = method, test = test,
                sigma2 = res$sigma2),
    warning = function(w) invokeRestart("muffleWarning"))
  # profile refits: nlminb at CTRL, else (nlminb reports false convergence on some 1-D
  # profiles) optim/BFGS with reltol = 1e-15, else nlm
  refit <- function(s2) {
    for (ctl in list(CTRL, PROFILE_FALLBACK1, PROFILE_FALLBACK2)) {
      fit <- try(suppressWarnings(fit_at(ctl, s2)), silent = TRUE)
      if (!inherits(fit, "try-error")) return(fit)
    }
    stop("profile refit failed")
  }
  out <- list(
    name = name, dataset = dataset, V = V_name, random = random_py,
    mods = if (is.null(mods_py)) NA else mods_py, method = method, test = test,
    call = paste0("rma.mv(yi, ", V_name, ", random=", paste(deparse(random), collapse = ""),
                  if (is.null(mods)) "" else paste0(", mods=", paste(deparse(mods), collapse = "")),
                  ", data=", dataset, ", method=\"", method, "\", test=\"", test, "\", ",
                  CTRL_CALL, ")"),
    note = if (length(notes)) paste(notes, collapse = "; ") else NA, control_used = used,
    coefficients = coefs(res), sigma2 = vec(res$sigma2), n_levels = vec(res$s.nlevels),
    sigma2_names = I(res$s.names), qe = num(res$QE), qe_df = res$k - res$p,
    qe_pvalue = num(res$QEp), qm = num(res$QM), qm_pvalue = num(res$QMp),
    fit = fitstats_of(res),
    fixed_sigma2 = list(coefficients = coefs(fixed), fit = fitstats_of(fixed),
                        qe = num(fixed$QE), qm = num(fixed$QM))
  )
  # A component that metafor's optimiser leaves just above 0 (< 1e-6): the same model with that
  # component fixed at exactly 0, i.e. metafor's maximum on the boundary, where ours lands.
  at_bound <- res$sigma2 < 1e-6
  if (any(at_bound)) {
    bres <- refit(ifelse(at_bound, 0, NA_real_))
    out$boundary_refit <- list(sigma2_fixed_at_zero = vec(which(at_bound) - 1L),
                               coefficients = coefs(bres),
                               sigma2 = vec(bres$sigma2), loglik = num(logLik(bres)))
    if (is.null(mods)) {
      bpr <- predict(bres)
      out$boundary_refit$pi_low <- num(bpr$pi.lb); out$boundary_refit$pi_high <- num(bpr$pi.ub)
    }
  }
  if (is.null(mods) && !inherits(res, "try-error")) {
    pr <- predict(res)
    out$pi_low <- num(pr$pi.lb); out$pi_high <- num(pr$pi.ub)
  }
  if (!is.null(cluster)) {
    cvals <- data[[cluster]]
    out$cr2 <- c(list(cluster = cluster), cr2(fixed, cvals))
    out$cr2_free_fit <- cr2(res, cvals)
    if (!is.null(wald_sets)) {
      out$wald <- wald(fixed, cvals, wald_sets)
      out$wald_free_fit <- wald(res, cvals, wald_sets)
    }
  }
  if (profile) {
    out$profile <- profile_ci(refit, res)
    cd <- try(suppressWarnings(confint(res)), silent = TRUE)
    if (!inherits(cd, "try-error")) {
      if (!is.null(cd$random)) cd <- list(cd)
      cd <- Filter(function(x) is.list(x) && !is.null(x$random), cd)
      out$profile$confint_default <- lapply(cd, function(x) vec(x$random[1, 2:3]))
    }
  }
  out
}

cases <- list(
  case("k2011_reml", "konstantopoulos2011", k2011$vi, ~ 1 | district/school, "district/school",
       cluster = "district", data = k2011),
  case("k2011_ml", "konstantopoulos2011", k2011$vi, ~ 1 | district/school, "district/school",
       method = "ML", cluster = "district", data = k2011),
  case("k2011_reml_year_t", "konstantopoulos2011", k2011$vi, ~ 1 | district/school,
       "district/school", mods = ~ I(year - 1990), mods_py = "~ I(year - 1990)", test = "t",
       cluster = "district", data = k2011, wald_sets = list(2L)),
  case("k2011_crossed", "konstantopoulos2011", k2011$vi, list(~ 1 | district, ~ 1 | year),
       I(c("district", "year")), cluster = NULL, profile = FALSE, data = k2011),
  case("k2011_one_cluster", "konstantopoulos2011_district11", one_cluster$vi,
       ~ 1 | district/school, "district/school", profile = FALSE, data = one_cluster),
  case("assink_reml", "assink2016", assink$vi, ~ 1 | study/esid, "study/esid",
       cluster = "study", data = assink),
  case("assink_deltype", "assink2016", assink$vi, ~ 1 | study/esid, "study/esid",
       mods = ~ deltype, mods_py = "~ C(deltype)", cluster = "study", data = assink,
       wald_sets = list(2:3, 3L)),
  case("assink_vcalc_rho06", "assink2016", V_assink, ~ 1 | study/esid, "study/esid",
       mods = ~ pubstatus + year, mods_py = "~ pubstatus + year", cluster = "study",
       V_name = "assink_rho06", data = assink, wald_sets = list(2:3)),
  case("assink_singular_V", "assink2016", V_sing, ~ 1 | study/esid, "study/esid",
       cluster = "study", V_name = "assink_singular", profile = FALSE, data = assink),
  case("bornmann_type", "bornmann2007", born$vi, ~ 1 | study/obs, "study/obs",
       mods = ~ type, mods_py = "~ C(type)", cluster = "study", data = born,
       wald_sets = list(2L)),
  case("bornmann_ml", "bornmann2007", born$vi, ~ 1 | study/obs, "study/obs", method = "ML",
       cluster = "study", data = born),
  case("fine1993_rho05", "fine1993", V_fine, ~ 1 | study/time, "study/time",
       cluster = "study", V_name = "fine_rho05", data = fine_long),
  case("fine1993_by_time", "fine1993", V_fine, ~ 1 | study/time, "study/time",
       mods = ~ 0 + month, mods_py = "~ 0 + C(month)", cluster = "study",
       V_name = "fine_rho05", data = fine_long, wald_sets = list(1:4, 2:4))
)

# Extra models for the joint tests only (layout of `cases`, no profile CIs). factor(year) of
# dat.konstantopoulos2011 is nearly nested in district (a year spans 1-3 districts), so the
# HTZ denominator df are small (a hard case for the approximation, kept on purpose); with
# the intercept too (1:6) eta < q - 1, where clubSandwich gives Fstat 0 and p NA.
wald_cases <- list(
  case("k2011_year_factor", "konstantopoulos2011", k2011$vi, ~ 1 | district/school,
       "district/school", mods = ~ factor(year), mods_py = "~ C(year)", cluster = "district",
       profile = FALSE, data = k2011, wald_sets = list(2:6, 2:3, 6L, 1:6)),
  case("assink_deltype_year", "assink2016", assink$vi, ~ 1 | study/esid, "study/esid",
       mods = ~ deltype + year, mods_py = "~ C(deltype) + year", cluster = "study",
       profile = FALSE, data = assink, wald_sets = list(2:4, 2:3))
)

# The bundled review's sensitivity to the assumed correlation: the same three-level model
# refitted with V = vcalc(..., rho) for each rho (estimate, se, sigma2 and the CR2 inference).
fine_rho <- lapply(c(0, 0.25, 0.5, 0.75, 0.9), function(r) {
  V <- vcalc(vi, cluster = study, obs = tp, data = fine_long, rho = r)
  res <- NULL
  for (ctl_name in c("CTRL", "PROFILE_FALLBACK1", "PROFILE_FALLBACK2")) {
    res <- try(rma.mv(yi, V, random = ~ 1 | study/time, data = fine_long, method = "REML",
                      control = get(ctl_name)), silent = TRUE)
    if (!inherits(res, "try-error")) break
  }
  fixed <- rma.mv(yi, V, random = ~ 1 | study/time, data = fine_long, method = "REML",
                  sigma2 = res$sigma2)
  list(rho = r, control_used = ctl_name, estimate = num(res$beta), se = num(res$se),
       sigma2 = vec(res$sigma2),
       cr2 = cr2(fixed, fine_long$study))
})

# ---------------------------------------------------------------------------------------------
# CR2 on univariate fits (rma.uni), clustered by study
# ---------------------------------------------------------------------------------------------
uni <- list()
uni_case <- function(name, dataset, data, mods = NULL, mods_py = NULL, method = "REML",
                     test = "z", cluster, wald_sets = NULL) {
  res <- if (is.null(mods)) rma(yi, vi, data = data, method = method, test = test,
                                control = list(threshold = 1e-12, maxiter = 10000))
         else rma(yi, vi, mods = mods, data = data, method = method, test = test,
                  control = list(threshold = 1e-12, maxiter = 10000))
  list(name = name, dataset = dataset, method = method, test = test,
       mods = if (is.null(mods_py)) NA else mods_py, tau2 = num(res$tau2),
       coefficients = coefs(res),
       call = paste0("rma(yi, vi", if (is.null(mods)) "" else paste0(", mods=", deparse(mods)),
                     ", data=", dataset, ", method=\"", method, "\", test=\"", test, "\"); ",
                     "coef_test(res, vcov=\"CR2\", cluster=", cluster, ")"),
       cr2 = c(list(cluster = cluster), cr2(res, data[[cluster]])),
       wald = if (is.null(wald_sets)) NULL else wald(res, data[[cluster]], wald_sets))
}
uni <- list(
  uni_case("assink_uni_reml", "assink2016", assink, cluster = "study"),
  uni_case("assink_uni_deltype", "assink2016", assink, mods = ~ deltype,
           mods_py = "~ C(deltype)", cluster = "study", wald_sets = list(2:3)),
  uni_case("bornmann_uni_knha", "bornmann2007", born, mods = ~ type, mods_py = "~ C(type)",
           test = "knha", cluster = "study", wald_sets = list(2L)),
  uni_case("bcg_uni_alloc", "bcg", bcg, mods = ~ alloc, mods_py = "~ C(alloc)",
           cluster = "first_author", wald_sets = list(2:3)),
  uni_case("bcg_uni_alloc_ablat", "bcg", bcg, mods = ~ alloc + ablat,
           mods_py = "~ C(alloc) + ablat", cluster = "first_author",
           wald_sets = list(2:4, 2:3, 4L))
)

frames <- lapply(datasets, function(d) list(source = d$source, columns = as.list(d$frame)))
out <- list(versions = versions, control = list(rma.mv = CTRL_CALL,
                                                 profile_uniroot_tol = 1e-11),
            datasets = frames, matrices = matrices, cases = cases, uni = uni,
            fine1993_rho = fine_rho, wald_cases = wald_cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = FALSE),
           file.path(out_dir, "multilevel.json"))
cat("wrote", file.path(out_dir, "multilevel.json"), "\n")
