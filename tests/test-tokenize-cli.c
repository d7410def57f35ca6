/* test-tokenize-cli.c - `sr-train tokenize` as a program of its own, for the
 * tokenizer's shell tests. */
#include "tokenizer.h"

int main(int argc, char **argv)
{
	return sr_tokenize_cmd(argc, argv);
}
