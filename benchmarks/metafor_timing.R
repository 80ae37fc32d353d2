# Timing of R metafor for benchmarks/bench_pooling.py (not run by the test suite).
#
# Usage: Rscript metafor_timing.R <workdir>
#
# <workdir>/cases.csv lists the cases (columns: id, kind, method, datafile, n_groups,
# min_time, repeats). kind "single": one rma() on all rows of datafile (columns yi, vi).
# kind "batch": a loop of rma() over the first n_groups groups of datafile (columns g, yi,
# vi; rows sorted by g). Times are measured with system.time() inside R, so R start-up and
# loading metafor are not counted; data are read and split before the clock starts.
#
# Writes <workdir>/timings.csv (id, seconds, number, failures) with the best-of-repeats
# time of one call ("single") or of the whole loop ("batch"), and <workdir>/fits_<id>.csv
# (estimate, tau2 per fit, and the same from an untimed refit with tight convergence
# settings for REML and PM) for the accuracy comparison.

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
workdir <- args[1]
cases <- read.csv(file.path(workdir, "cases.csv"), stringsAsFactors = FALSE)

data_cache <- list()
split_cache <- list()

get_data <- function(f) {
  if (is.null(data_cache[[f]])) data_cache[[f]] <<- read.csv(file.path(workdir, f))
  data_cache[[f]]
}

get_parts <- function(f) {
  if (is.null(split_cache[[f]])) {
    d <- get_data(f)
    split_cache[[f]] <<- split(d[, c("yi", "vi")], factor(d$g, levels = unique(d$g)))
  }
  split_cache[[f]]
}

fit_one <- function(yi, vi, method) {
  tryCatch(rma(yi, vi, method = method), error = function(e) NULL)
}

# untimed refit with tight convergence (REML, ML: Fisher scoring threshold; PM: uniroot tol; DL is closed form),
# so that tolerance differences can be told apart from disagreement
tight_control <- function(method) {
  if (method %in% c("REML", "ML")) return(list(threshold = 1e-12))
  if (method == "PM") return(list(tol = 1e-12))
  list()  # closed form (DL): the default fit is the exact one
}

fit_tight <- function(yi, vi, method) {
  con <- tight_control(method)
  fit <- tryCatch(rma(yi, vi, method = method, control = con), error = function(e) NULL)
  if (is.null(fit)) c(NA_real_, NA_real_) else c(fit$beta[1], fit$tau2)
}

out <- data.frame(id = character(0), seconds = numeric(0), number = integer(0),
                  failures = integer(0), stringsAsFactors = FALSE)

for (i in seq_len(nrow(cases))) {
  cs <- cases[i, ]
  m <- cs$method
  if (cs$kind == "single") {
    d <- get_data(cs$datafile)
    yi <- d$yi
    vi <- d$vi
    fit <- fit_one(yi, vi, m)
    # autorange: repeat the call until one timed block lasts at least min_time seconds
    number <- 1L
    repeat {
      el <- system.time(for (j in seq_len(number)) fit_one(yi, vi, m))[["elapsed"]]
      if (el >= cs$min_time || number >= 2^20) break
      number <- number * 2L
    }
    best <- el
    for (r in seq_len(max(cs$repeats - 1, 0))) {
      el <- system.time(for (j in seq_len(number)) fit_one(yi, vi, m))[["elapsed"]]
      best <- min(best, el)
    }
    est <- if (is.null(fit)) NA_real_ else as.numeric(fit$beta)
    tau2 <- if (is.null(fit)) NA_real_ else fit$tau2
    tight <- fit_tight(yi, vi, m)
    write.csv(data.frame(estimate = est, tau2 = tau2, estimate_tight = tight[1],
                         tau2_tight = tight[2]),
              file.path(workdir, paste0("fits_", cs$id, ".csv")), row.names = FALSE)
    out[nrow(out) + 1, ] <- list(cs$id, best / number, number, as.integer(is.null(fit)))
  } else {
    parts <- get_parts(cs$datafile)[seq_len(cs$n_groups)]
    n <- length(parts)
    est <- rep(NA_real_, n)
    tau2 <- rep(NA_real_, n)
    best <- Inf
    for (r in seq_len(max(cs$repeats, 1))) {
      el <- system.time({
        for (j in seq_len(n)) {
          p <- parts[[j]]
          fit <- fit_one(p$yi, p$vi, m)
          if (!is.null(fit)) {
            est[j] <- fit$beta[1]
            tau2[j] <- fit$tau2
          }
        }
      })[["elapsed"]]
      best <- min(best, el)
    }
    tight <- t(vapply(parts, function(p) fit_tight(p$yi, p$vi, m), numeric(2)))
    write.csv(data.frame(estimate = est, tau2 = tau2, estimate_tight = tight[, 1],
                         tau2_tight = tight[, 2]),
              file.path(workdir, paste0("fits_", cs$id, ".csv")), row.names = FALSE)
    out[nrow(out) + 1, ] <- list(cs$id, best, 1L, sum(is.na(est)))
  }
}

write.csv(out, file.path(workdir, "timings.csv"), row.names = FALSE)
cat(sprintf("R %s, metafor %s\n", paste(R.version$major, R.version$minor, sep = "."),
            as.character(packageVersion("metafor"))),
    file = file.path(workdir, "versions.txt"))
