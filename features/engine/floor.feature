# language: zh-CN
功能: 扣完为止(floor)
  一个类别每年有一个基数(例如 12 分),该类别的扣分累计不超过基数,扣完为止;
  下一年重新计算。加分不受影响。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | P1   | H1   | 否   |
    并且 规则文件如下:
      """
      point_types:
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
      event_types:
        - key: env
          name: 环境卫生
          subject: household
          fields:
            - {name: kind, type: choice, choices: [rubbish, clutter, cleanup], required: true}
      categories:
        - key: environment
          name: 环境卫生
          name_en: Sanitation
          point_type: moral
          floor: {base: 12, window: year}
      rules:
        - {id: E1, name: 垃圾乱堆, point_type: moral, event: env, category: environment, when: kind == "rubbish", points: {fixed: -5}}
        - {id: E2, name: 乱堆乱建, point_type: moral, event: env, category: environment, when: kind == "clutter", points: {fixed: -10}}
        - {id: E3, name: 参与环境整治, point_type: moral, event: env, category: environment, when: kind == "cleanup", points: {fixed: 3}}
      """

  场景: 扣分累计到基数为止,之后的扣分不再计;加分照常
    当 录入以下事件:
      | 编号 | 类型 | 时间             | 农户 | 字段         |
      | f1   | env  | 2026-02-01 09:00 | H1   | kind=rubbish |
      | f2   | env  | 2026-03-01 09:00 | H1   | kind=cleanup |
      | f3   | env  | 2026-04-01 09:00 | H1   | kind=clutter |
      | f4   | env  | 2026-05-01 09:00 | H1   | kind=rubbish |
    那么 事件 f1 按规则 E1 记 -5 分
    并且 事件 f2 按规则 E3 记 3 分
    并且 事件 f3 按规则 E2 记 -7 分,说明为:
      """
      基础分 -10
      环境卫生 扣完为止(余 7),本次计 -7
      """
    并且 事件 f3 按规则 E2 的英文说明为:
      """
      base points -10
      Sanitation deductions stop at its floor (7 left), this time -7
      """
    并且 事件 f4 按规则 E1 未计分,原因是“环境卫生 扣完为止(余 0),本次计 0”
    并且 H1 的 moral 余额为 -9
    并且 H1 的 moral 在 2026 的得分为 -9

  场景: 新的一年重新计算基数
    当 录入以下事件:
      | 编号 | 类型 | 时间             | 农户 | 字段         |
      | f1   | env  | 2026-11-01 09:00 | H1   | kind=clutter |
      | f2   | env  | 2026-12-01 09:00 | H1   | kind=clutter |
      | f3   | env  | 2027-01-02 09:00 | H1   | kind=clutter |
    那么 事件 f2 按规则 E2 记 -2 分
    并且 事件 f3 按规则 E2 记 -10 分
    并且 H1 的 moral 在 2026 的得分为 -12
    并且 H1 的 moral 在 2027 的得分为 -10
