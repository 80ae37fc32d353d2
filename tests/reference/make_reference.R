# Regenerate the metafor reference fixtures used by the evidence test suite.
#
#   Rscript tests/reference/make_reference.R
#
# Needs the Debian packages r-cran-metafor r-cran-metadat r-cran-jsonlite (R 4.2.2,
# metafor 3.8-1 on Debian 12). Writes datasets.json, rma.json, escalc.json and around.json
# next to this script; see FORMAT.md for the layout and README.md for an overview.
# Every value comes either from a metadat dataset or from synthetic data generated below
# with a fixed set.seed(); nothing is typed in by hand.

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

# ---------------------------------------------------------------------------------------------
# Convergence settings (tight, so that the reference is the converged solution).
#   rma.uni: threshold = Fisher-scoring stopping rule on |tau2_new - tau2_old| (ML, REML, EB);
#            tol       = uniroot() accuracy (PM) and the ll0check tolerance (ML, REML);
#            maxiter   = max Fisher-scoring iterations and max uniroot iterations.
#   confint.rma.uni (Q-profile CI of tau2): tol, maxiter for uniroot(); tau2.max is left at
#            metafor's default max(100, 10 * tau2) (search interval [0, tau2.max]).
# ---------------------------------------------------------------------------------------------
RMA_CONTROL <- list(threshold = 1e-12, maxiter = 10000L, tol = 1e-14)
CONFINT_CONTROL <- list(tol = 1e-12, maxiter = 10000L)
control_block <- list(
  rma = RMA_CONTROL,
  confint = CONFINT_CONTROL,
  rma_call = "control=list(threshold=1e-12, maxiter=10000, tol=1e-14)",
  confint_call = "confint(res, control=list(tol=1e-12, maxiter=10000))",
  notes = paste(
    "threshold: Fisher scoring (ML/REML/EB) stops when |change in tau2| <= threshold;",
    "tol: uniroot accuracy for PM and the ll0check tolerance for ML/REML;",
    "confint tau2.max left at metafor's default max(100, 10*tau2)."
  )
)

# ---------------------------------------------------------------------------------------------
# JSON helpers. Scalars are unboxed; arrays are wrapped in I() so that a length-1 array stays
# an array. Non-finite numbers are written as null with a sibling "<field>_special" string
# ("NA", "NaN", "Inf", "-Inf").
# ---------------------------------------------------------------------------------------------
special_of <- function(x) {
  ifelse(is.nan(x), "NaN", ifelse(is.na(x), "NA", ifelse(x > 0, "Inf", "-Inf")))
}

# Put a scalar into list `lst` under `name`.
# special = FALSE for fields that are simply not applicable (df of a z test, se of tau2 in an
# FE model): those are written as a bare null.
put <- function(lst, name, value, special = TRUE) {
  if (is.null(value) || length(value) == 0L) value <- NA_real_
  value <- as.numeric(value)[1]
  if (is.finite(value)) {
    lst[[name]] <- value
  } else {
    lst[name] <- list(NA)
    if (special) lst[[paste0(name, "_special")]] <- special_of(value)
  }
  lst
}

# Put a numeric vector into list `lst` under `name`.
putv <- function(lst, name, value) {
  value <- as.numeric(value)
  bad <- !is.finite(value)
  lst[[name]] <- I(value)
  if (any(bad)) {
    sp <- rep(NA_character_, length(value))
    sp[bad] <- special_of(value[bad])
    lst[[paste0(name, "_special")]] <- I(sp)
  }
  lst
}

write_json_file <- function(obj, name) {
  txt <- toJSON(obj, digits = NA, auto_unbox = TRUE, na = "null", null = "null",
                pretty = TRUE)
  writeLines(txt, file.path(out_dir, name))
  cat("wrote", name, "\n")
}

# Run an expression, collecting warnings; errors are returned as a condition object.
capture <- function(expr) {
  warns <- character(0)
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) e),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  list(value = value, warnings = unique(gsub("\\s+", " ", warns)))
}
is_error <- function(x) inherits(x, "error")
msg_of <- function(e) gsub("\\s+", " ", conditionMessage(e))

# ---------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------
datasets <- list()

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets$bcg <- list(
  source = "metadat::dat.bcg + escalc(measure=\"RR\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)",
  yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi),
  moderators = list(ablat = bcg$ablat, year = bcg$year),
  groups = list(alloc = as.character(bcg$alloc)),
  labels = paste(bcg$author, bcg$year)
)

norm <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i,
               m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
datasets$normand1999 <- list(
  source = "metadat::dat.normand1999 + escalc(measure=\"MD\", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)",
  yi = as.numeric(norm$yi), vi = as.numeric(norm$vi),
  labels = as.character(norm$source)
)

hack <- dat.hackshaw1998
datasets$hackshaw1998 <- list(
  source = "metadat::dat.hackshaw1998 (yi = log odds ratio, vi given in the dataset)",
  yi = as.numeric(hack$yi), vi = as.numeric(hack$vi),
  moderators = list(year = hack$year),
  groups = list(design = as.character(hack$design)),
  labels = paste(hack$author, hack$year)
)

mol <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
datasets$molloy2014 <- list(
  source = "metadat::dat.molloy2014 + escalc(measure=\"ZCOR\", ri=ri, ni=ni, data=dat.molloy2014)",
  yi = as.numeric(mol$yi), vi = as.numeric(mol$vi),
  moderators = list(year = mol$year, meanage = mol$meanage),
  groups = list(design = as.character(mol$design)),
  labels = paste(mol$authors, mol$year)
)

rau <- dat.raudenbush1985
datasets$raudenbush1985 <- list(
  source = "metadat::dat.raudenbush1985 (yi = standardized mean difference, vi given in the dataset)",
  yi = as.numeric(rau$yi), vi = as.numeric(rau$vi),
  moderators = list(weeks = rau$weeks, year = rau$year),
  groups = list(tester = as.character(rau$tester), setting = as.character(rau$setting)),
  labels = paste(rau$author, rau$year)
)

# Synthetic and edge-case data. Values are rounded to 4 decimals so that the JSON file holds
# exactly the numbers R used.
set.seed(20240101)
k1 <- list(yi = round(rnorm(1, 0.3, 0.2), 4), vi = round(runif(1, 0.01, 0.1), 4))
datasets$k1 <- c(list(source = "synthetic: set.seed(20240101); yi = round(rnorm(1, 0.3, 0.2), 4); vi = round(runif(1, 0.01, 0.1), 4)"), k1)

set.seed(20240102)
k2 <- list(yi = round(rnorm(2, 0.3, 0.3), 4), vi = round(runif(2, 0.01, 0.1), 4))
datasets$k2 <- c(list(source = "synthetic: set.seed(20240102); yi = round(rnorm(2, 0.3, 0.3), 4); vi = round(runif(2, 0.01, 0.1), 4)"), k2)

set.seed(20240103)
vi_h <- round(runif(8, 0.02, 0.08), 4)
yi_h <- round(0.2 + rnorm(8, 0, 0.3 * sqrt(vi_h)), 4)   # scatter well below sampling error
datasets$tau2_zero <- list(
  source = "synthetic homogeneous: set.seed(20240103); vi = round(runif(8, 0.02, 0.08), 4); yi = round(0.2 + rnorm(8, 0, 0.3*sqrt(vi)), 4) (Q < k-1, so DL/REML tau2 truncate at 0)",
  yi = yi_h, vi = vi_h
)
stopifnot(rma(yi_h, vi_h, method = "FE")$QE < 7)

set.seed(20240104)
vi_i <- round(runif(6, 0.01, 0.1), 4)
datasets$identical <- list(
  source = "synthetic: all yi = 0.5; set.seed(20240104); vi = round(runif(6, 0.01, 0.1), 4)",
  yi = rep(0.5, 6), vi = vi_i
)

set.seed(20240105)
vi_b <- round(runif(8, 0.01, 0.05), 4)
vi_b[3] <- vi_b[3] * 1e6
yi_b <- round(rnorm(8, 0.4, 0.25), 4)
datasets$huge_variance <- list(
  source = "synthetic: set.seed(20240105); vi = round(runif(8, 0.01, 0.05), 4); vi[3] = vi[3]*1e6; yi = round(rnorm(8, 0.4, 0.25), 4)",
  yi = yi_b, vi = vi_b
)

set.seed(20240106)
n_s <- sample(20:200, 25, replace = TRUE)
vi_s <- round(4 / n_s, 5)
theta_s <- rnorm(25, 0.35, sqrt(0.05))
yi_s <- round(rnorm(25, theta_s, sqrt(vi_s)), 4)
x_s <- round(runif(25, 0, 10), 2)
datasets$synthetic25 <- list(
  source = "synthetic random effects: set.seed(20240106); n = sample(20:200, 25, replace=TRUE); vi = round(4/n, 5); theta = rnorm(25, 0.35, sqrt(0.05)); yi = round(rnorm(25, theta, sqrt(vi)), 4); x = round(runif(25, 0, 10), 2)",
  yi = yi_s, vi = vi_s,
  moderators = list(x = x_s)
)

# arrays stay arrays
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  d$k <- length(d$yi)
  d$yi <- I(as.numeric(d$yi))
  d$vi <- I(as.numeric(d$vi))
  if (!is.null(d$moderators)) d$moderators <- lapply(d$moderators, function(v) I(as.numeric(v)))
  if (!is.null(d$groups)) d$groups <- lapply(d$groups, I)
  if (!is.null(d$labels)) d$labels <- I(d$labels)
  d$order <- I(seq_along(d$yi) - 1L)
  datasets[[nm]] <- d
}

write_json_file(list(versions = versions,
                     note = "order: 0-based study order as stored (row order of the metadat dataset)",
                     datasets = datasets), "datasets.json")

# ---------------------------------------------------------------------------------------------
# rma.json: every dataset x method x test
# ---------------------------------------------------------------------------------------------
METHODS <- c("FE", "EE", "DL", "REML", "ML", "PM", "HE", "SJ", "HS", "EB")
TESTS <- c("z", "knha")
RESULT_KEYS <- c("k", "estimate", "se", "ci_low", "ci_high", "stat", "pvalue", "tau2",
                 "tau2_ci_low", "tau2_ci_high", "i2", "h2", "q", "q_df", "q_pvalue",
                 "pi_low", "pi_high")

null_result <- function(k) {
  r <- list()
  for (key in RESULT_KEYS) r[key] <- list(NA)
  r$k <- k
  r$weights <- I(rep(NA_real_, k))
  r
}

fit_case <- function(dname, method, test) {
  d <- datasets[[dname]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi)
  call <- sprintf("rma(yi, vi, method=\"%s\", test=\"%s\", level=95, control=list(threshold=1e-12, maxiter=10000, tol=1e-14))",
                  method, test)
  case <- list(dataset = dname, method = method, test = test, level = 95, call = call)
  fit <- capture(rma(yi, vi, method = method, test = test, level = 95, control = RMA_CONTROL))
  res <- fit$value
  notes <- character(0)
  if (length(fit$warnings)) notes <- c(notes, paste("rma warning:", fit$warnings))
  if (is_error(res)) {
    case$result <- null_result(length(yi))
    case$error <- msg_of(res)
    if (length(notes)) case$note <- paste(notes, collapse = " | ")
    return(case)
  }
  r <- list(k = res$k)
  r <- put(r, "estimate", res$beta)
  r <- put(r, "se", res$se)
  r <- put(r, "ci_low", res$ci.lb)
  r <- put(r, "ci_high", res$ci.ub)
  r <- put(r, "stat", res$zval)
  r <- put(r, "pvalue", res$pval)
  r <- put(r, "df", res$ddf, special = FALSE)   # t-distribution df for knha; null for z
  r <- put(r, "tau2", res$tau2)
  r <- put(r, "tau2_se", res$se.tau2, special = FALSE)
  r <- put(r, "i2", res$I2)
  r <- put(r, "h2", res$H2)
  r <- put(r, "q", res$QE)
  r$q_df <- res$k - res$p
  r <- put(r, "q_pvalue", res$QEp)
  r$test_used <- res$test
  # Q-profile CI for tau2 (and the I2/H2 bounds metafor derives from it)
  ci <- capture(confint(res, control = CONFINT_CONTROL))
  if (is_error(ci$value)) {
    r["tau2_ci_low"] <- list(NA); r["tau2_ci_high"] <- list(NA)
    r$tau2_ci_error <- msg_of(ci$value)
  } else {
    rnd <- ci$value$random
    r <- put(r, "tau2_ci_low", rnd["tau^2", "ci.lb"])
    r <- put(r, "tau2_ci_high", rnd["tau^2", "ci.ub"])
    r <- put(r, "i2_ci_low", rnd["I^2(%)", "ci.lb"])
    r <- put(r, "i2_ci_high", rnd["I^2(%)", "ci.ub"])
    r <- put(r, "h2_ci_low", rnd["H^2", "ci.lb"])
    r <- put(r, "h2_ci_high", rnd["H^2", "ci.ub"])
    r$tau2_ci_lb_sign <- ci$value$lb.sign
    r$tau2_ci_ub_sign <- ci$value$ub.sign
    r$tau2_ci_null <- isTRUE(ci$value$ci.null)
    if (nzchar(ci$value$ub.sign) || nzchar(ci$value$lb.sign))
      r$tau2_ci_bound_note <- paste0(
        "a bound sits at the end of metafor's search interval [tau2.min, tau2.max] = [0, max(100, 10*tau2)]: ",
        "lb.sign='", ci$value$lb.sign, "', ub.sign='", ci$value$ub.sign, "'",
        if (isTRUE(ci$value$ci.null)) " (ci.null: Q(0) below the lower critical value, both bounds 0)" else "")
    if (length(ci$warnings)) r$tau2_ci_note <- paste(ci$warnings, collapse = " | ")
  }
  pr <- capture(predict(res))
  if (is_error(pr$value)) {
    r["pi_low"] <- list(NA); r["pi_high"] <- list(NA)
    r$pi_error <- msg_of(pr$value)
  } else {
    if (is.null(pr$value$pi.lb)) {
      r["pi_low"] <- list(NA); r["pi_high"] <- list(NA)
      r$pi_note <- "predict() gives no prediction interval for FE/EE models (only pred, se, ci.lb, ci.ub)"
    } else {
      r <- put(r, "pi_low", pr$value$pi.lb)
      r <- put(r, "pi_high", pr$value$pi.ub)
    }
  }
  r <- putv(r, "weights", weights(res) / 100)
  case$result <- r
  if (length(notes)) case$note <- paste(notes, collapse = " | ")
  case
}

cases <- list()
for (dname in names(datasets)) for (method in METHODS) for (test in TESTS) {
  cases[[length(cases) + 1L]] <- fit_case(dname, method, test)
}
write_json_file(list(
  versions = versions, control = control_block,
  conventions = list(
    i2 = "percent (0-100), res$I2", h2 = "res$H2", weights = "weights(res)/100 (fractions)",
    q_df = "k - p (k - 1 here)", tau2_ci = "confint(res)$random['tau^2', ] (Q-profile)",
    pi = "predict(res)$pi.lb / pi.ub", df = "res$ddf (k-1 for knha, null for z)",
    special = "non-finite values are null with a sibling '<field>_special' string"
  ),
  cases = cases), "rma.json")

# ---------------------------------------------------------------------------------------------
# escalc.json
# ---------------------------------------------------------------------------------------------
esc_cases <- list()
add_esc <- function(measure, call, data, argmap, options = list(), source = "", note = NULL) {
  # argmap: named character vector, metafor argument -> column of `data`
  arglist <- lapply(argmap, function(col) data[[col]])
  ev <- capture(do.call(escalc, c(list(measure = measure), arglist, options)))
  case <- list(measure = measure, call = call, source = source)
  inputs <- list()
  for (a in names(argmap)) inputs <- putv(inputs, a, data[[argmap[[a]]]])
  case$inputs <- inputs
  case$options <- options
  if (is_error(ev$value)) {
    case$error <- msg_of(ev$value)
  } else {
    case <- putv(case, "yi", ev$value$yi)
    case <- putv(case, "vi", ev$value$vi)
  }
  if (length(ev$warnings)) case$warnings <- I(ev$warnings)
  if (!is.null(note)) case$note <- note
  esc_cases[[length(esc_cases) + 1L]] <<- case
}

two_group <- c(m1i = "m1i", sd1i = "sd1i", n1i = "n1i", m2i = "m2i", sd2i = "sd2i", n2i = "n2i")
for (m in c("MD", "SMD", "SMDH", "ROM")) {
  add_esc(m, sprintf("escalc(measure=\"%s\", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)", m),
          dat.normand1999, two_group, source = "metadat::dat.normand1999")
}
tables <- c(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg")
for (m in c("OR", "RR", "RD")) {
  add_esc(m, sprintf("escalc(measure=\"%s\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)", m),
          dat.bcg, tables, source = "metadat::dat.bcg")
}
# zero cells (real data): studies 1, 4, 11, 12, 16 have ai = 0; study 15 (Yucel) has ai = ci = 0
for (m in c("OR", "RR", "RD")) {
  add_esc(m, sprintf("escalc(measure=\"%s\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007)", m),
          dat.nielweise2007, c(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"),
          source = "metadat::dat.nielweise2007",
          note = "zero cells: metafor defaults add=1/2, to=\"only0\", drop00=FALSE (0.5 added to all four cells of any 2x2 table with a zero; the double-zero study 15 is kept)")
}
add_esc("OR", "escalc(measure=\"OR\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007, drop00=TRUE)",
        dat.nielweise2007, c(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"),
        options = list(drop00 = TRUE), source = "metadat::dat.nielweise2007",
        note = "drop00=TRUE: double-zero study gives NA")
add_esc("OR", "escalc(measure=\"OR\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007, add=1/2, to=\"all\")",
        dat.nielweise2007, c(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"),
        options = list(add = 0.5, to = "all"), source = "metadat::dat.nielweise2007",
        note = "to=\"all\": 0.5 added to every cell of every study")
for (m in c("COR", "ZCOR")) {
  add_esc(m, sprintf("escalc(measure=\"%s\", ri=ri, ni=ni, data=dat.molloy2014)", m),
          dat.molloy2014, c(ri = "ri", ni = "ni"), source = "metadat::dat.molloy2014")
}
# Pre-post (single group) data: metadat 1.2-0 has no pre-post dataset, so synthetic.
set.seed(20240107)
pp <- data.frame(ni = sample(15:60, 8, replace = TRUE))
pp$m2i <- round(rnorm(8, 50, 5), 2)             # pre-test means
pp$m1i <- round(pp$m2i + rnorm(8, 4, 2), 2)     # post-test means
pp$sd2i <- round(runif(8, 8, 12), 2)            # pre-test SDs
pp$sd1i <- round(pp$sd2i * runif(8, 0.9, 1.2), 2)  # post-test SDs
pp$ri <- round(runif(8, 0.4, 0.8), 2)            # pre-post correlations
pp_src <- "synthetic pre-post: set.seed(20240107); ni = sample(15:60, 8, TRUE); m2i = round(rnorm(8, 50, 5), 2); m1i = round(m2i + rnorm(8, 4, 2), 2); sd2i = round(runif(8, 8, 12), 2); sd1i = round(sd2i*runif(8, 0.9, 1.2), 2); ri = round(runif(8, 0.4, 0.8), 2)"
add_esc("MC", "escalc(measure=\"MC\", m1i=m1i, m2i=m2i, sd1i=sd1i, sd2i=sd2i, ni=ni, ri=ri, data=pp)",
        pp, c(m1i = "m1i", m2i = "m2i", sd1i = "sd1i", sd2i = "sd2i", ni = "ni", ri = "ri"), source = pp_src)
add_esc("SMCR", "escalc(measure=\"SMCR\", m1i=m1i, m2i=m2i, sd1i=sd1i, ni=ni, ri=ri, data=pp)",
        pp, c(m1i = "m1i", m2i = "m2i", sd1i = "sd1i", ni = "ni", ri = "ri"), source = pp_src,
        note = "SMCR standardizes by sd1i (raw score standardization)")
add_esc("SMCC", "escalc(measure=\"SMCC\", m1i=m1i, m2i=m2i, sd1i=sd1i, sd2i=sd2i, ni=ni, ri=ri, data=pp)",
        pp, c(m1i = "m1i", m2i = "m2i", sd1i = "sd1i", sd2i = "sd2i", ni = "ni", ri = "ri"), source = pp_src)
# NA inputs: copies of real data with some inputs set to NA (rows are kept, yi/vi become NA)
norm_na <- dat.normand1999
norm_na$m1i[2] <- NA
norm_na$sd2i[5] <- NA
for (m in c("MD", "SMD")) {
  add_esc(m, sprintf("escalc(measure=\"%s\", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat) with dat = dat.normand1999; dat$m1i[2] = NA; dat$sd2i[5] = NA", m),
          norm_na, two_group, source = "metadat::dat.normand1999 with m1i[2] and sd2i[5] set to NA",
          note = "NA inputs give NA yi/vi for that row; other rows unchanged")
}
bcg_na <- dat.bcg
bcg_na$cpos[3] <- NA
add_esc("OR", "escalc(measure=\"OR\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat) with dat = dat.bcg; dat$cpos[3] = NA",
        bcg_na, tables, source = "metadat::dat.bcg with cpos[3] set to NA",
        note = "NA inputs give NA yi/vi for that row")
mol_na <- dat.molloy2014
mol_na$ri[4] <- NA
add_esc("ZCOR", "escalc(measure=\"ZCOR\", ri=ri, ni=ni, data=dat) with dat = dat.molloy2014; dat$ri[4] = NA",
        mol_na, c(ri = "ri", ni = "ni"), source = "metadat::dat.molloy2014 with ri[4] set to NA",
        note = "NA inputs give NA yi/vi for that row")

write_json_file(list(
  versions = versions,
  defaults = list(add = 0.5, to = "only0", drop00 = FALSE, vtype = "LS",
                  note = "metafor 3.8 escalc defaults for measures based on 2x2 tables; vtype \"LS\" for all measures here"),
  cases = esc_cases), "escalc.json")

# ---------------------------------------------------------------------------------------------
# around.json
# ---------------------------------------------------------------------------------------------
ds_vals <- function(dname) {
  d <- datasets[[dname]]
  data.frame(yi = as.numeric(d$yi), vi = as.numeric(d$vi))
}
fit_fields <- function(res) {
  r <- list(k = res$k)
  r <- put(r, "estimate", res$beta[1])
  r <- put(r, "se", res$se[1])
  r <- put(r, "ci_low", res$ci.lb[1])
  r <- put(r, "ci_high", res$ci.ub[1])
  r <- put(r, "stat", res$zval[1])
  r <- put(r, "pvalue", res$pval[1])
  r <- put(r, "tau2", res$tau2)
  r <- put(r, "i2", res$I2)
  r <- put(r, "h2", res$H2)
  r <- put(r, "q", res$QE)
  r$q_df <- res$k - res$p
  r <- put(r, "q_pvalue", res$QEp)
  r
}
ctl <- "control=list(threshold=1e-12, maxiter=10000, tol=1e-14)"

# --- subgroup -------------------------------------------------------------------------------
subgroup <- list()
sub_specs <- list(list(dataset = "bcg", group = "alloc"),
                  list(dataset = "raudenbush1985", group = "tester"))
for (spec in sub_specs) {
  dat <- ds_vals(spec$dataset)
  dat$g <- as.character(datasets[[spec$dataset]]$groups[[spec$group]])
  lv <- sort(unique(dat$g))
  for (method in c("REML", "DL")) {
    groups <- list()
    est <- se <- numeric(0)
    for (l in lv) {
      res <- rma(yi, vi, data = dat, subset = g == l, method = method, control = RMA_CONTROL)
      gr <- c(list(group = l), fit_fields(res))
      groups[[length(groups) + 1L]] <- gr
      est <- c(est, res$beta[1]); se <- c(se, res$se)
    }
    qb <- rma(est, sei = se, method = "FE")
    entry <- list(dataset = spec$dataset, by = spec$group, method = method, test = "z",
                  tau2_mode = "separate",
                  call = sprintf("for each level l of %s (sorted): rma(yi, vi, subset=%s==l, method=\"%s\", %s); then rma(estimates, sei=ses, method=\"FE\") for Q-between",
                                 spec$group, spec$group, method, ctl),
                  groups = groups)
    entry <- put(entry, "q_between", qb$QE)
    entry$q_between_df <- qb$k - 1L
    entry <- put(entry, "q_between_pvalue", qb$QEp)
    subgroup[[length(subgroup) + 1L]] <- entry

    # common tau2: mixed-effects model with the grouping factor
    res_c <- rma(yi, vi, mods = ~ factor(g), data = dat, method = method, control = RMA_CONTROL)
    res_n <- rma(yi, vi, mods = ~ factor(g) - 1, data = dat, method = method, control = RMA_CONTROL)
    groups_c <- list()
    for (j in seq_along(lv)) {
      gr <- list(group = lv[j], k = sum(dat$g == lv[j]))
      gr <- put(gr, "estimate", res_n$beta[j]); gr <- put(gr, "se", res_n$se[j])
      gr <- put(gr, "ci_low", res_n$ci.lb[j]); gr <- put(gr, "ci_high", res_n$ci.ub[j])
      gr <- put(gr, "stat", res_n$zval[j]); gr <- put(gr, "pvalue", res_n$pval[j])
      groups_c[[j]] <- gr
    }
    entry <- list(dataset = spec$dataset, by = spec$group, method = method, test = "z",
                  tau2_mode = "common",
                  call = sprintf("rma(yi, vi, mods=~factor(%s), method=\"%s\", %s) for tau2 and QM; group estimates from rma(yi, vi, mods=~factor(%s)-1, ...)",
                                 spec$group, method, ctl, spec$group),
                  groups = groups_c)
    entry <- put(entry, "tau2", res_c$tau2)
    entry <- put(entry, "q_between", res_c$QM)
    entry$q_between_df <- res_c$QMdf[1]
    entry <- put(entry, "q_between_pvalue", res_c$QMp)
    entry <- put(entry, "qe", res_c$QE)
    entry <- put(entry, "qe_pvalue", res_c$QEp)
    entry <- put(entry, "i2", res_c$I2)
    subgroup[[length(subgroup) + 1L]] <- entry
  }
}

# --- meta-regression --------------------------------------------------------------------------
metareg <- list()
mr_specs <- list(list(dataset = "bcg", formula = "~ablat"),
                 list(dataset = "bcg", formula = "~ablat + year"),
                 list(dataset = "raudenbush1985", formula = "~weeks"),
                 list(dataset = "synthetic25", formula = "~x"))
for (spec in mr_specs) {
  d <- datasets[[spec$dataset]]
  dat <- ds_vals(spec$dataset)
  for (mn in names(d$moderators)) dat[[mn]] <- as.numeric(d$moderators[[mn]])
  for (method in c("REML", "DL", "ML")) for (test in c("z", "knha")) {
    fit <- capture(rma(yi, vi, mods = as.formula(spec$formula), data = dat, method = method,
                       test = test, control = RMA_CONTROL))
    res <- fit$value
    entry <- list(dataset = spec$dataset, mods = spec$formula, method = method, test = test,
                  call = sprintf("rma(yi, vi, mods=%s, method=\"%s\", test=\"%s\", %s)",
                                 spec$formula, method, test, ctl))
    coefs <- list()
    for (j in seq_along(res$beta)) {
      cf <- list(term = rownames(res$beta)[j])
      cf <- put(cf, "estimate", res$beta[j]); cf <- put(cf, "se", res$se[j])
      cf <- put(cf, "stat", res$zval[j]); cf <- put(cf, "pvalue", res$pval[j])
      cf <- put(cf, "ci_low", res$ci.lb[j]); cf <- put(cf, "ci_high", res$ci.ub[j])
      coefs[[j]] <- cf
    }
    entry$coefficients <- coefs
    entry <- put(entry, "df", res$ddf[1], special = FALSE)
    entry <- put(entry, "tau2", res$tau2)
    entry <- put(entry, "tau2_se", res$se.tau2, special = FALSE)
    entry <- put(entry, "qm", res$QM)
    entry$qm_df <- I(as.numeric(res$QMdf[!is.na(res$QMdf)]))
    entry <- put(entry, "qm_pvalue", res$QMp)
    entry <- put(entry, "qe", res$QE)
    entry$qe_df <- res$k - res$p
    entry <- put(entry, "qe_pvalue", res$QEp)
    entry <- put(entry, "r2", res$R2)
    entry <- put(entry, "i2", res$I2)
    entry <- put(entry, "h2", res$H2)
    if (length(fit$warnings)) entry$note <- paste(fit$warnings, collapse = " | ")
    metareg[[length(metareg) + 1L]] <- entry
  }
}

# --- leave-one-out, influence, cumulative ----------------------------------------------------
list_rows <- function(obj, map) {
  out <- list()
  for (nm in names(map)) out <- putv(out, nm, obj[[map[[nm]]]])
  out
}
l1o_map <- c(estimate = "estimate", se = "se", stat = "zval", pvalue = "pval",
             ci_low = "ci.lb", ci_high = "ci.ub", q = "Q", q_pvalue = "Qp",
             tau2 = "tau2", i2 = "I2", h2 = "H2")

leave_one_out <- list(); influence_l <- list(); cumulative <- list()
for (dname in c("bcg", "normand1999", "hackshaw1998")) for (method in c("REML", "DL", "FE")) {
  dat <- ds_vals(dname)
  res <- rma(yi, vi, data = dat, method = method, control = RMA_CONTROL)
  base_call <- sprintf("res <- rma(yi, vi, method=\"%s\", %s)", method, ctl)

  l1 <- leave1out(res)
  leave_one_out[[length(leave_one_out) + 1L]] <- c(
    list(dataset = dname, method = method, test = "z",
         call = paste0(base_call, "; leave1out(res)"),
         note = "row i = study i (0-based order of datasets.json) omitted"),
    list_rows(l1, l1o_map))

  inf <- influence(res)
  infd <- inf$inf
  e <- list(dataset = dname, method = method, test = "z",
            call = paste0(base_call, "; influence(res)$inf"))
  e <- putv(e, "rstudent", infd$rstudent)
  e <- putv(e, "dffits", infd$dffits)
  e <- putv(e, "cooks", infd$cook.d)
  e <- putv(e, "cov_r", infd$cov.r)
  e <- putv(e, "tau2_del", infd$tau2.del)
  e <- putv(e, "qe_del", infd$QE.del)
  e <- putv(e, "hat", infd$hat)
  e <- putv(e, "weight", infd$weight / 100)
  e <- putv(e, "dfbetas", inf$dfbs[[1]])
  e$influential <- I(as.character(infd$inf) == "*")
  e$note <- "weight as a fraction (influence(res)$inf$weight / 100); influential = metafor's '*' flag; dfbetas = influence(res)$dfbs$intrcpt"
  influence_l[[length(influence_l) + 1L]] <- e
}
cum_specs <- list(list(dataset = "bcg", order = "year"),
                  list(dataset = "hackshaw1998", order = "year"),
                  list(dataset = "molloy2014", order = "year"))
for (spec in cum_specs) for (method in c("REML", "DL", "FE")) {
  dat <- ds_vals(spec$dataset)
  ord_var <- as.numeric(datasets[[spec$dataset]]$moderators[[spec$order]])
  dat$ordv <- ord_var
  res <- rma(yi, vi, data = dat, method = method, control = RMA_CONTROL)
  cm <- cumul(res, order = ordv)
  e <- list(dataset = spec$dataset, method = method, test = "z", order_by = spec$order,
            call = sprintf("res <- rma(yi, vi, method=\"%s\", %s); cumul(res, order=%s)",
                           method, ctl, spec$order),
            order_used = I(order(ord_var) - 1L),
            note = "row j = the first j+1 studies in order_used (0-based indices; ties kept in dataset order, i.e. a stable sort)")
  e <- c(e, list_rows(cm, l1o_map))
  cumulative[[length(cumulative) + 1L]] <- e
}

# --- regtest (Egger) --------------------------------------------------------------------------
regtest_l <- list()
for (dname in c("bcg", "hackshaw1998", "molloy2014", "normand1999")) for (method in c("REML", "FE")) {
  dat <- ds_vals(dname)
  res <- rma(yi, vi, data = dat, method = method, control = RMA_CONTROL)
  for (model in c("lm", "rma")) {
    rt <- regtest(res, model = model)
    e <- list(dataset = dname, method = method, model = model, predictor = "sei",
              call = sprintf("res <- rma(yi, vi, method=\"%s\", %s); regtest(res, model=\"%s\")",
                             method, ctl, model))
    e <- put(e, "stat", rt$zval)
    e <- put(e, "pvalue", rt$pval)
    e <- put(e, "df", rt$dfs, special = FALSE)
    e$dist <- if (is.null(rt$dfs) || is.na(rt$dfs)) "normal" else "t"
    e <- put(e, "limit_estimate", rt$est)
    e <- put(e, "limit_ci_low", rt$ci.lb)
    e <- put(e, "limit_ci_high", rt$ci.ub)
    regtest_l[[length(regtest_l) + 1L]] <- e
  }
}

# --- trim and fill ----------------------------------------------------------------------------
trimfill_l <- list()
for (dname in c("bcg", "hackshaw1998", "molloy2014", "normand1999")) for (method in c("REML", "FE")) {
  dat <- ds_vals(dname)
  res <- rma(yi, vi, data = dat, method = method, control = RMA_CONTROL)
  tf <- capture(trimfill(res))
  e <- list(dataset = dname, method = method, estimator = "L0",
            call = sprintf("res <- rma(yi, vi, method=\"%s\", %s); trimfill(res)", method, ctl))
  if (is_error(tf$value)) {
    e$error <- msg_of(tf$value)
  } else {
    t <- tf$value
    e$k0 <- t$k0
    e <- put(e, "k0_se", t$se.k0)
    e$side <- t$side
    e$k <- t$k
    e <- put(e, "estimate", t$beta)
    e <- put(e, "se", t$se)
    e <- put(e, "ci_low", t$ci.lb)
    e <- put(e, "ci_high", t$ci.ub)
    e <- put(e, "stat", t$zval)
    e <- put(e, "pvalue", t$pval)
    e <- put(e, "tau2", t$tau2)
    e <- put(e, "q", t$QE)
    e <- putv(e, "filled_yi", t$yi[t$fill])
    e <- putv(e, "filled_vi", t$vi[t$fill])
    e <- putv(e, "yi", t$yi)
    e <- putv(e, "vi", t$vi)
    e$fill <- I(as.logical(t$fill))
    e$note <- "yi/vi/fill: the augmented data as metafor returns it (observed studies first, filled studies last)"
  }
  if (length(tf$warnings)) e$warnings <- I(tf$warnings)
  trimfill_l[[length(trimfill_l) + 1L]] <- e
}

write_json_file(list(
  versions = versions, control = control_block,
  subgroup = subgroup, metareg = metareg, leave_one_out = leave_one_out,
  influence = influence_l, cumulative = cumulative, regtest = regtest_l,
  trimfill = trimfill_l), "around.json")
