// rjsf's validator over @cfworker/json-schema, which interprets schemas instead of compiling
// them to functions: the page's Content-Security-Policy forbids eval, which Ajv needs.
import { Validator } from '@cfworker/json-schema';
import {
  createErrorHandler,
  toErrorList,
  toErrorSchema,
  unwrapErrorHandler,
  type CustomValidator,
  type ErrorSchema,
  type ErrorTransformer,
  type RJSFSchema,
  type RJSFValidationError,
  type UiSchema,
  type ValidationData,
  type ValidatorType,
} from '@rjsf/utils';

const WRAPPERS = new Set(['properties', 'items', 'prefixItems', 'allOf', 'anyOf', 'oneOf', '$ref', 'additionalProperties', 'unevaluatedProperties', 'if', 'then', 'else', 'dependentSchemas']);
const cache = new WeakMap<object, Validator>();

function validatorFor(schema: RJSFSchema): Validator {
  let found = cache.get(schema);
  if (!found) {
    const draft = typeof schema.$schema === 'string' && schema.$schema.includes('draft-07') ? '7' : '2020-12';
    found = new Validator(schema as object, draft, false);
    cache.set(schema, found);
  }
  return found;
}

function pathOf(instanceLocation: string): string[] {
  return instanceLocation
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((p) => decodeURIComponent(p.replace(/~1/g, '/').replace(/~0/g, '~')));
}

/** The leaf errors of a validation, as rjsf's error list (one per failing field). */
export function schemaErrors(schema: RJSFSchema, data: unknown): RJSFValidationError[] {
  let result;
  try {
    result = validatorFor(schema).validate(data);
  } catch (error) {
    return [{ name: 'schema', property: '.', message: `the schema cannot be used: ${(error as Error).message}`, stack: String(error) }];
  }
  if (result.valid) return [];
  return result.errors
    .filter((e) => !WRAPPERS.has(e.keyword))
    .map((e) => {
      const path = pathOf(e.instanceLocation);
      const property = path.length ? `.${path.join('.')}` : '.';
      const message = e.error.replace(/^Instance (?:does not|has)/, (m) => (m.startsWith('Instance does') ? 'does not' : 'has'));
      return { name: e.keyword, property, message, stack: `${property} ${message}`, schemaPath: e.keywordLocation };
    });
}

export class CfValidator<T = unknown> implements ValidatorType<T, RJSFSchema> {
  validateFormData(
    formData: T | undefined,
    schema: RJSFSchema,
    customValidate?: CustomValidator<T, RJSFSchema>,
    transformErrors?: ErrorTransformer<T, RJSFSchema>,
    uiSchema?: UiSchema<T, RJSFSchema>,
  ): ValidationData<T> {
    let errors = schemaErrors(schema, formData ?? {});
    if (transformErrors) errors = transformErrors(errors, uiSchema);
    let errorSchema = toErrorSchema<T>(errors);
    if (customValidate) {
      const handler = customValidate(formData, createErrorHandler<T>(formData as T), uiSchema);
      const custom = unwrapErrorHandler<T>(handler) as ErrorSchema<T>;
      errorSchema = { ...errorSchema, ...custom };
      errors = [...errors, ...toErrorList<T>(custom)];
    }
    return { errors, errorSchema };
  }

  isValid(schema: RJSFSchema, formData: T | undefined, rootSchema: RJSFSchema): boolean {
    const withDefs = { ...schema, $defs: { ...(rootSchema.$defs ?? {}), ...(schema.$defs ?? {}) }, definitions: { ...(rootSchema.definitions ?? {}), ...(schema.definitions ?? {}) } };
    try {
      return new Validator(withDefs as object, '2020-12', false).validate(formData).valid;
    } catch {
      return false;
    }
  }

  rawValidation<Result = unknown>(schema: RJSFSchema, formData?: T): { errors?: Result[]; validationError?: Error } {
    return { errors: schemaErrors(schema, formData) as unknown as Result[] };
  }
}

export const validator = new CfValidator();
