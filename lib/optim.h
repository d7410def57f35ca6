/*
 * optim.h - AdamW with decoupled weight decay (as torch.optim.AdamW), the
 * cosine learning-rate schedule with linear warm-up, and gradient-norm
 * clipping, over the model's single parameter allocation.
 *
 * Ownership: struct sr_adamw is caller-owned; sr_adamw_init allocates its
 * moment buffers and sr_adamw_release frees them. Parameters, gradients and
 * the tensor table are borrowed for each call.
 */
#ifndef SR_OPTIM_H
#define SR_OPTIM_H

#include <stddef.h>
#include "sr.h"
#include "model.h"

struct sr_adamw_config {
	double beta1, beta2;   /* moment decay rates, default 0.9 and 0.95 */
	double eps;            /* added to sqrt of the second moment, default 1e-8 */
	double weight_decay;   /* decoupled decay for 2-D tensors only, default 0.1 */
};

struct sr_adamw {
	struct sr_adamw_config cfg;
	size_t n;              /* number of parameters */
	float *m;              /* (n) first moment */
	float *v;              /* (n) second moment */
	long step;             /* updates done so far */
};

void sr_adamw_config_defaults(struct sr_adamw_config *cfg);
/* Allocate zeroed moments for n parameters. Returns 0 or SR_ENOMEM. */
int sr_adamw_init(struct sr_adamw *opt, const struct sr_adamw_config *cfg, size_t n,
                  struct sr_error *err);
void sr_adamw_release(struct sr_adamw *opt);

/* Apply one update with learning rate lr to params from grads multiplied by
 * grad_scale (the clipping factor). Weight decay applies to the tensors of
 * the table with two dimensions (matrices and embeddings), not to norms
 * and biases. */
void sr_adamw_update(struct sr_adamw *opt, float *params, const float *grads, double grad_scale,
                     double lr, const struct sr_tensor_info *tensors, int n_tensors);

/* L2 norm of grads (n), summed in double in fixed-size chunks so that the
 * result does not depend on the thread count. */
double sr_grad_norm(const float *grads, size_t n);

/* Clipping factor for a gradient of norm `norm`: min(1, max_norm / norm),
 * 1 when max_norm <= 0. */
double sr_clip_scale(double norm, double max_norm);

/* Learning rate at step (0-based) of total: linear warm-up over `warmup`
 * steps from lr/warmup to lr, then a cosine from lr down to min_lr at the
 * last step. */
double sr_lr_cosine(long step, long warmup, long total, double lr, double min_lr);

#endif
